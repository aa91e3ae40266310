"""TensorRT for RTX: plans built ahead of time, on any machine, for a list of GPU architectures.

Two TensorRT flavours serve the one ``tensorrt`` backend:

- **TensorRT** (module ``tensorrt``, extra ``[tensorrt]``, NVIDIA's package index): data-centre GPUs
  and every NVIDIA GPU from Turing (SM 7.5) on, Hopper included; it builds a plan on the GPU that
  will run it (:mod:`.tensorrt_build`).
- **TensorRT for RTX** (module ``tensorrt_rtx``, extra ``[tensorrt-rtx]``, real PyPI wheels): Turing
  to Ada and Blackwell RTX (SM 75, 80, 86, 89, 120, 121; not Hopper SM 90 or data-centre Blackwell).
  It builds plans **without a GPU**, for the compute capabilities named at build time, so a CPU
  machine can build the plans a GPU fleet will run. Running a plan needs a GPU of a targeted
  architecture.

Where the APIs agree the code is the same (ONNX parser, optimisation profile, serialisation); the
differences live here: the module, strongly typed networks only (``create_network(0)``), the
compute-capability targets, and the sidecar fields (``flavour``, ``compute_capabilities``).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..atomic import temp_beside
from ..errors import EngineUnavailable

FLAVOUR = "tensorrt-rtx"
MODULE = "tensorrt_rtx"
INSTALL = "pip install 'attgan-batch[tensorrt-rtx]' (PyPI wheels, ~260 MB; builds plans without a GPU)"
SERVES = ("TensorRT for RTX serves Turing to Ada and Blackwell RTX GPUs (SM 75, 80, 86, 89, 120, 121); "
          "TensorRT itself (`pip install --extra-index-url https://pypi.nvidia.com 'attgan-batch[tensorrt]'`) "
          "serves data-centre GPUs such as Hopper (SM 90)")


def import_rtx() -> Any:
    """The ``tensorrt_rtx`` module, or EngineUnavailable saying how to install it and what it serves."""
    try:
        return importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODULE:
            raise EngineUnavailable(f"TensorRT for RTX is installed but a part of it cannot be loaded ({exc}); "
                                    f"reinstall it: {INSTALL}") from exc
        raise EngineUnavailable(f"TensorRT for RTX is not installed; {INSTALL}. {SERVES}.") from exc
    except (ImportError, OSError) as exc:
        raise EngineUnavailable(f"TensorRT for RTX's libraries cannot be loaded ({exc}); reinstall it: "
                                f"{INSTALL}") from exc


def rtx_available() -> bool:
    return importlib.util.find_spec(MODULE) is not None


def rtx_version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))


def _sm_number(name: str) -> int:
    return int(re.sub(r"\D", "", name) or 0)


def available_targets(trt: Any) -> list[str]:
    """The compute capabilities this TensorRT for RTX builds for (``SM75``, ...), oldest first."""
    names = [n for n in dir(trt.ComputeCapability) if re.fullmatch(r"SM\d+", n)]
    return sorted(names, key=_sm_number)


def parse_targets(text: str, trt: Any) -> list[str]:
    """``86,89`` / ``sm86 8.9`` / ``all`` -> ``["SM86", "SM89"]``; EngineUnavailable naming the choices."""
    offered = available_targets(trt)
    if text.strip().lower() == "all":
        return offered
    wanted = []
    for part in [p for p in re.split(r"[\s,;]+", text.strip()) if p]:
        digits = part.lower().removeprefix("sm").replace(".", "")
        name = f"SM{digits}"
        if not digits.isdigit() or name not in offered:
            raise EngineUnavailable(
                f"--compute-capability {part}: TensorRT for RTX {rtx_version(trt)} builds for "
                f"{', '.join(n[2:] for n in offered)} (or 'all'); {SERVES}")
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise EngineUnavailable("--compute-capability is empty; give e.g. 86,89 or all")
    return sorted(wanted, key=_sm_number)


def target_of(compute_capability: str) -> str:
    """A GPU's compute capability (``"8.6"``) as a build target name (``"SM86"``)."""
    return "SM" + compute_capability.replace(".", "")


def plan_name(precision: str, profile: tuple[int, int, int], version: str, targets: list[str]) -> str:
    lo, opt, hi = profile
    return f"generator-{precision}-b{lo}-{opt}-{hi}-trtrtx{version}-{'-'.join(t.lower() for t in targets)}.plan"


@dataclass
class RtxBuild:
    path: Path
    seconds: float
    version: str
    targets: list[str]


def build_rtx_plan(onnx_path: str | Path, plan_path: str | Path, *, profile: tuple[int, int, int], image_size: int,
                   n_attrs: int, targets: list[str], n_style: int = 0,
                   log: Callable[[str], Any] = print) -> RtxBuild:
    """Serialize a plan for ``targets`` from ``onnx_path`` (the plain graph; its precision is the
    graph's: networks are strongly typed). Needs no GPU. EngineUnavailable on any failure."""
    from .tensorrt_profile import add_batch_profile

    trt = import_rtx()
    version = rtx_version(trt)
    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # strongly typed: the only kind TensorRT for RTX has
    parser = trt.OnnxParser(network, logger)  # owns the network's weights until the build
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineUnavailable(f"TensorRT for RTX {version} cannot parse {onnx_path}: "
                                f"{'; '.join(errors) or 'unknown error'}")
    config = builder.create_builder_config()
    config.num_compute_capabilities = len(targets)
    for i, name in enumerate(targets):
        config.set_compute_capability(getattr(trt.ComputeCapability, name), i)
    add_batch_profile(builder, config, profile, image_size=image_size, n_attrs=n_attrs, n_style=n_style)
    lo, opt, hi = profile
    log(f"building a TensorRT for RTX {version} plan for {', '.join(targets)}, batch {lo}:{opt}:{hi} "
        "(ahead of time: no GPU needed)")
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    del parser
    if serialized is None:
        raise EngineUnavailable(f"TensorRT for RTX {version} failed to build a plan from {onnx_path} for "
                                f"{', '.join(targets)} (see its log above)")
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(plan_path)
    try:
        tmp.write_bytes(bytes(serialized))
        tmp.replace(plan_path)
    finally:
        tmp.unlink(missing_ok=True)
    return RtxBuild(plan_path, time.perf_counter() - start, version, list(targets))


def rtx_diffs(meta: dict[str, Any] | None, *, version: str, targets: list[str] | None = None,
              gpu_target: str | None = None) -> list[tuple[str, Any, Any]]:
    """What makes an RTX plan unusable beyond checkpoint/precision/shape: (field, built, wanted).

    ``targets``: a build asked for exactly these; ``gpu_target``: a run on this GPU needs it covered."""
    meta = meta or {}
    diffs = []
    if meta.get("flavour") != FLAVOUR:
        diffs.append(("flavour", meta.get("flavour") or "TensorRT", FLAVOUR))
    built = (meta.get("versions") or {}).get("tensorrt")
    if built != version:
        diffs.append(("tensorrt", f"TensorRT for RTX {built}", f"TensorRT for RTX {version}"))
    have = list(meta.get("compute_capabilities") or [])
    if targets is not None and have != list(targets):
        diffs.append(("targets", ",".join(have) or "none", ",".join(targets)))
    if gpu_target is not None and gpu_target not in have:
        diffs.append(("targets", ",".join(have) or "none", f"{gpu_target} (this GPU)"))
    return diffs
