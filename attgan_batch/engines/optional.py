"""Optional engine packages (extras): tell whether one is installed, import it or say how to get it."""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ..errors import EngineUnavailable


def installed(module: str) -> bool:
    """True when ``module`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a None entry in sys.modules reads as "not installed"
        return False


def import_or_explain(module: str, instead: str) -> Any:
    """``module`` imported, or EngineUnavailable with the import error and ``instead`` (what to do)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineUnavailable(f"{module} is not installed or cannot be imported ({exc}). {instead}") from exc
