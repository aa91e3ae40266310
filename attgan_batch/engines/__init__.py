"""Inference backends behind one interface (see :mod:`.base`), the engine artefacts they run, and
:func:`select_backend`, which picks one for a run.

OpenVINO, ONNX Runtime and TensorRT are optional extras: nothing here imports them until a backend needs them.
"""
from .base import Backend
from .select import CHOICES, select_backend
from .torch_backend import TorchBackend, resolve_device

__all__ = ["Backend", "CHOICES", "TorchBackend", "resolve_device", "select_backend"]
