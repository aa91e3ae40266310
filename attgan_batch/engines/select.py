"""Pick the backend for a run: the one asked for, or with ``auto`` the fastest that is fresh and works here.

``auto``: a fresh TensorRT plan on a GPU -> tensorrt; otherwise torch on the GPU (saying how to build a
plan). On CPU: OpenVINO, else ONNX Runtime, over this checkpoint's cached export (exported once under
``engines/``), otherwise torch. Every fallback is logged with its reason. An engine file passed
explicitly that no longer matches the checkpoint, precision, shapes, TensorRT version or GPU is
refused, never used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import EngineUnavailable
from ..model import LoadedCheckpoint
from .artifacts import DEFAULT_PROFILE, Artifact, checkpoint_source, ensure_onnx, find_plan, staleness_for
from .base import Backend
from .export import PRECISIONS
from .sidecar import read_sidecar, rebuild_command
from .torch_backend import TorchBackend, resolve_device

CHOICES = ("auto", "tensorrt", "openvino", "onnxruntime", "torch")
CPU_ENGINES = ("openvino", "onnxruntime")  # backends that run an .onnx file
PLAN_SUFFIXES = (".plan", ".engine", ".trt")
Log = Callable[[str], Any]


def _gpu_index(device: str) -> int:
    if device in ("auto", "cuda"):
        return 0
    if device.startswith("cuda:"):
        return int(device.split(":", 1)[1])
    raise EngineUnavailable(f"--backend tensorrt runs on an NVIDIA GPU, not on --device {device}; use "
                            "--backend onnxruntime or torch for the CPU")


def _check_precision(backend: str, precision: str) -> None:
    if precision not in PRECISIONS:
        raise EngineUnavailable(f"--precision {precision} is not available with --backend {backend} (choose "
                                f"{' or '.join(PRECISIONS)}), or use --backend torch")


def _plan_command(loaded: LoadedCheckpoint, engines_dir: Path, precision: str, batch_size: int) -> str:
    lo, opt, hi = DEFAULT_PROFILE
    profile = (lo, batch_size, max(hi, batch_size)) if batch_size != opt else DEFAULT_PROFILE
    return rebuild_command(checkpoint=checkpoint_source(loaded), precision=precision, profile=profile,
                           out=engines_dir, target="tensorrt")


def _tensorrt(loaded: LoadedCheckpoint, device: str, engines_dir: Path, precision: str, batch_size: int,
              log: Log) -> Backend:
    from .tensorrt_backend import TensorRTBackend
    from .tensorrt_env import tensorrt_ready, tensorrt_version

    _check_precision("tensorrt", precision)
    index = _gpu_index(device)
    trt, gpu = tensorrt_ready(index)
    version = tensorrt_version(trt)
    found = find_plan(loaded, engines_dir, precision=precision, batch_size=batch_size, tensorrt_version=version, gpu=gpu)
    command = _plan_command(loaded, engines_dir, precision, batch_size)
    if found is None:
        raise EngineUnavailable(
            f"no fresh TensorRT plan in {engines_dir} for checkpoint {loaded.sha256[:12]}, {precision}, batch "
            f"{batch_size}, TensorRT {version} on {gpu.name} (sm {gpu.compute_capability}). Build one (a few "
            f"minutes) with: {command}  -- or use --backend torch --device cuda meanwhile."
        )
    log(f"backend: tensorrt, plan {found.path}")
    return TensorRTBackend(found.path, device_index=index, meta=found.meta, rebuild=command)


def _export(loaded: LoadedCheckpoint, engines_dir: Path, precision: str, log: Log) -> Artifact:
    """This checkpoint's ONNX file for the CPU engines, exported once and cached under ``engines_dir``."""
    try:
        return ensure_onnx(loaded, engines_dir, precision=precision, log=log)
    except OSError as exc:
        raise EngineUnavailable(f"cannot write the ONNX export under {engines_dir} ({exc}); pass a writable "
                                "--engines-dir, or use --backend torch") from exc


def _onnxruntime(loaded: LoadedCheckpoint, device: str, engines_dir: Path, precision: str, log: Log,
                 art: Artifact | None = None) -> Backend:
    from .onnx_backend import OnnxRuntimeBackend, providers_for

    _check_precision("onnxruntime", precision)
    ort_device = "cpu" if device == "auto" else device
    providers_for(ort_device)  # fail with the install hint before spending time on an export
    art = art or _export(loaded, engines_dir, precision, log)
    log(f"backend: onnxruntime on {ort_device}, {'exported' if art.built else 'cached'} {art.path}")
    return OnnxRuntimeBackend(art.path, device=ort_device, meta=art.meta)


def _openvino_device(device: str) -> None:
    if device not in ("auto", "cpu"):
        raise EngineUnavailable(f"--backend openvino runs on the CPU here, not on --device {device}; use "
                                "--backend tensorrt or --backend torch --device cuda on an NVIDIA GPU")


def _openvino_streams(batch_size: int) -> int | None:
    """One stream (all cores on one batch) for batch 1, else OpenVINO's throughput default."""
    return 1 if batch_size <= 1 else None


def _openvino(loaded: LoadedCheckpoint, device: str, engines_dir: Path, precision: str, batch_size: int,
              log: Log, art: Artifact | None = None) -> Backend:
    from .openvino_backend import OpenVinoBackend, import_openvino

    _check_precision("openvino", precision)
    _openvino_device(device)
    import_openvino()  # fail with the install hint before spending time on an export
    art = art or _export(loaded, engines_dir, precision, log)
    backend = OpenVinoBackend(art.path, streams=_openvino_streams(batch_size), meta=art.meta)
    log(f"backend: openvino on cpu ({backend.streams} stream(s)), {'exported' if art.built else 'cached'} {art.path}")
    return backend


def _explicit_engine(choice: str, loaded: LoadedCheckpoint, engine: Path, device: str, engines_dir: Path,
                     precision: str, batch_size: int, log: Log) -> Backend:
    kind = "tensorrt" if engine.suffix in PLAN_SUFFIXES else "onnxruntime" if engine.suffix == ".onnx" else None
    if kind == "onnxruntime" and choice == "openvino":  # an .onnx file runs on either CPU engine
        kind = "openvino"
    if kind is None:
        raise EngineUnavailable(f"--engine {engine}: expected a .onnx file or a TensorRT .plan file")
    if choice not in ("auto", kind):
        raise EngineUnavailable(f"--engine {engine} is a {kind} artefact but --backend {choice} was asked for; "
                                f"use --backend {kind} or drop --engine")
    if not engine.is_file():
        raise EngineUnavailable(f"--engine {engine} does not exist; build one with `attgan-batch build-engine`")
    _check_precision(kind, precision)
    meta = read_sidecar(engine)
    if kind == "tensorrt":
        from .tensorrt_backend import TensorRTBackend
        from .tensorrt_env import tensorrt_ready, tensorrt_version

        index = _gpu_index(device)
        trt, gpu = tensorrt_ready(index)
        report = staleness_for(loaded, engine, meta, precision=precision, engines_dir=engines_dir,
                               batch_size=batch_size, tensorrt_version=tensorrt_version(trt), gpu=gpu)
    else:
        report = staleness_for(loaded, engine, meta, precision=precision, engines_dir=engines_dir)
    if report.stale:
        raise EngineUnavailable(f"refusing {report.message()}  -- or run without --engine.")
    if ((meta or {}).get("parity") or {}).get("status") == "failed":
        raise EngineUnavailable(f"refusing {engine}: its parity check failed ({meta['parity']}); rebuild it with: "
                                f"{report.command}")
    log(f"backend: {kind}, engine {engine}")
    if kind == "tensorrt":
        return TensorRTBackend(engine, device_index=index, meta=meta, rebuild=report.command)
    if kind == "openvino":
        from .openvino_backend import OpenVinoBackend

        _openvino_device(device)
        return OpenVinoBackend(engine, streams=_openvino_streams(batch_size), meta=meta)
    from .onnx_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(engine, device="cpu" if device == "auto" else device, meta=meta)


def _torch(loaded: LoadedCheckpoint, device: str, precision: str, batch_size: int, compile: bool,
           log: Log) -> Backend:
    """The PyTorch backend, through torch.compile when asked (--compile)."""
    dev = resolve_device(device)
    if not compile:
        log(f"backend: torch on {dev}")
        return TorchBackend(loaded.generator, device=dev, precision=precision)
    log(f"backend: torch on {dev}, compiling the generator for batch {batch_size} (torch.compile, ~20 s)")
    backend = TorchBackend(loaded.generator, device=dev, precision=precision, compile=True, batch_size=batch_size,
                           img_size=loaded.settings.img_size)
    log(f"compiled in {backend.compile_seconds:.1f} s")
    return backend


def _auto(loaded: LoadedCheckpoint, device: str, engines_dir: Path, precision: str, batch_size: int,
          log: Log, compile: bool = False) -> Backend:
    from .onnx_backend import onnxruntime_available
    from .openvino_backend import openvino_available

    dev = resolve_device(device)
    if dev.type == "cuda":
        try:
            return _tensorrt(loaded, str(dev), engines_dir, precision, batch_size, log=log)
        except EngineUnavailable as exc:
            log(f"auto: not using TensorRT: {exc}")
        return _torch(loaded, str(dev), precision, batch_size, compile, log)
    if compile:  # asked for: compiled torch instead of OpenVINO / ONNX Runtime on the CPU
        return _torch(loaded, str(dev), precision, batch_size, compile, log)
    if not onnxruntime_available():  # the ONNX export itself needs the [onnx] extra
        log("auto: onnxruntime is not installed (`pip install 'attgan-batch[onnx,openvino]'` makes CPU runs "
            "1.3-4x faster); using torch on cpu")
        return TorchBackend(loaded.generator, device=dev, precision=precision)
    if precision != "fp32":
        log(f"auto: {precision} is slower than fp32 on a CPU; using fp32")
    try:  # once, for both CPU engines
        art = _export(loaded, engines_dir, "fp32", log)
    except EngineUnavailable as exc:  # includes ParityError and an unwritable engines dir
        log(f"auto: no usable ONNX export: {exc}; using torch on cpu")
        return TorchBackend(loaded.generator, device=dev, precision=precision)
    if openvino_available():
        try:
            return _openvino(loaded, "cpu", engines_dir, "fp32", batch_size, log, art)
        except EngineUnavailable as exc:
            log(f"auto: not using openvino: {exc}; trying onnxruntime")
    else:
        log("auto: openvino is not installed (`pip install 'attgan-batch[openvino]'` is ~1.1-1.2x faster "
            "than onnxruntime on CPUs); using onnxruntime")
    try:
        return _onnxruntime(loaded, "cpu", engines_dir, "fp32", log, art)
    except EngineUnavailable as exc:
        log(f"auto: not using onnxruntime: {exc}; using torch on cpu")
        return TorchBackend(loaded.generator, device=dev, precision=precision)


def select_backend(choice: str, loaded: LoadedCheckpoint, *, device: str = "auto", engine: Path | None = None,
                   engines_dir: Path = Path("engines"), precision: str = "fp32", batch_size: int = 8,
                   log: Log = print, compile: bool = False) -> Backend:
    """The backend for ``choice`` (auto | tensorrt | openvino | onnxruntime | torch); EngineUnavailable says why not.

    ``compile``: the torch backend through torch.compile; with ``auto`` it replaces OpenVINO / ONNX Runtime on
    the CPU (and eager torch on a GPU without a TensorRT plan)."""
    if choice not in CHOICES:
        raise EngineUnavailable(f"unknown backend {choice!r}; choose one of {', '.join(CHOICES)}")
    engines_dir = Path(engines_dir)
    if compile and (choice in ("tensorrt", *CPU_ENGINES) or engine is not None):
        raise EngineUnavailable(f"--compile applies to the torch backend, not to --backend {choice}"
                                + (" with --engine" if engine is not None else "") + "; drop one of them")
    if engine is not None:
        if choice == "torch":
            raise EngineUnavailable("--engine is for --backend tensorrt, openvino or onnxruntime; drop it for "
                                    "--backend torch")
        return _explicit_engine(choice, loaded, Path(engine), device, engines_dir, precision, batch_size, log)
    if choice == "torch":
        return _torch(loaded, device, precision, batch_size, compile, log)
    if choice == "onnxruntime":
        return _onnxruntime(loaded, device, engines_dir, precision, log)
    if choice == "openvino":
        return _openvino(loaded, device, engines_dir, precision, batch_size, log)
    if choice == "tensorrt":
        return _tensorrt(loaded, device, engines_dir, precision, batch_size, log)
    return _auto(loaded, device, engines_dir, precision, batch_size, log, compile)

