"""Pick the backend for a run: the one asked for, or with ``auto`` the fastest that is fresh and works here.

``auto``: a fresh TensorRT plan on a GPU -> tensorrt; otherwise torch on the GPU (saying how to build a
plan). On CPU: OpenVINO over the generator's graph built in memory (engines.openvino_engine), else
ONNX Runtime over this checkpoint's cached export (exported once under ``engines/``), otherwise
torch. Every fallback is logged with its reason. An engine file passed explicitly that no longer
matches the checkpoint, precision, shapes, TensorRT version or GPU is refused, never used.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from ..errors import EngineUnavailable
from ..model import LoadedCheckpoint
from .artifacts import (DEFAULT_PROFILE, Artifact, checkpoint_dir, checkpoint_source, ensure_onnx, find_plan,
                        staleness_for)
from .base import Backend
from .cache import build_lock, resolve_engines_dir
from .export import PRECISIONS, ParityError
from .options import EngineOptions
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


def _precisions(backend: str) -> tuple[str, ...]:
    """Graph precisions everywhere; bf16 also with OpenVINO (its bf16 inference over the fp32 graph)."""
    return (*PRECISIONS, "bf16") if backend == "openvino" else PRECISIONS


def _graph_precision(precision: str) -> str:
    """The ONNX file a precision runs on: bf16 is OpenVINO's compile-time choice over the fp32 graph."""
    return "fp32" if precision == "bf16" else precision


def _check_precision(backend: str, precision: str) -> None:
    if precision not in _precisions(backend):
        bf16 = (" bf16 runs with --backend openvino on CPUs with bf16 units, or --backend torch --device cuda"
                + ("; TensorRT's reduced precision here is --precision fp16 (a bf16 graph of this generator does not "
                   "build: ONNX opset 18 has no bf16 Conv, and TensorRT for RTX 1.7 rejects a bf16 ConvTranspose)."
                   if backend == "tensorrt" else ".") if precision == "bf16" else "")
        raise EngineUnavailable(f"--precision {precision} is not available with --backend {backend} (choose "
                                f"{' or '.join(_precisions(backend))}), or use --backend torch.{bf16}")


def _plan_command(loaded: LoadedCheckpoint, o: EngineOptions) -> str:
    lo, opt, hi = DEFAULT_PROFILE
    profile = (lo, o.batch_size, max(hi, o.batch_size)) if o.batch_size != opt else DEFAULT_PROFILE
    return rebuild_command(checkpoint=checkpoint_source(loaded), precision=o.precision, profile=profile,
                           out=o.engines_dir, target="tensorrt")


def _tensorrt(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Backend:
    from .tensorrt_backend import TensorRTBackend
    from .tensorrt_env import tensorrt_ready, tensorrt_version

    _check_precision("tensorrt", o.precision)
    index = _gpu_index(o.device)
    try:
        trt, gpu = tensorrt_ready(index)
    except EngineUnavailable as exc:
        rtx = _rtx_plan(loaded, o, index, log)
        if rtx is not None:
            return rtx
        raise EngineUnavailable(f"{exc} {_rtx_note()}") from exc
    version = tensorrt_version(trt)
    found = find_plan(loaded, o.engines_dir, precision=o.precision, batch_size=o.batch_size, tensorrt_version=version,
                      gpu=gpu)
    command = _plan_command(loaded, o)
    if found is None:
        raise EngineUnavailable(
            f"no fresh TensorRT plan in {o.engines_dir} for checkpoint {loaded.sha256[:12]}, {o.precision}, batch "
            f"{o.batch_size}, TensorRT {version} on {gpu.name} (sm {gpu.compute_capability}). Build one (a few "
            f"minutes) with: {command}  -- or use --backend torch --device cuda meanwhile."
        )
    log(f"backend: tensorrt, plan {found.path}")
    return TensorRTBackend(found.path, device_index=index, meta=found.meta, rebuild=command)


def _rtx_note() -> str:
    from .tensorrt_rtx import SERVES, rtx_available

    if rtx_available():
        return ("TensorRT for RTX is installed: it builds plans here ahead of time (`build-engine --target tensorrt "
                "--compute-capability 86,89`), but running a plan needs an NVIDIA GPU of a targeted architecture.")
    return f"{SERVES}."


def _rtx_plan(loaded: LoadedCheckpoint, o: EngineOptions, index: int, log: Log) -> Backend | None:
    """A TensorRT for RTX plan built (on any machine) for this GPU's architecture, when that flavour
    is installed and such a plan is in the engines folder; None otherwise."""
    import torch

    from .tensorrt_rtx import import_rtx, rtx_available, rtx_diffs, rtx_version, target_of

    if not rtx_available() or not torch.cuda.is_available() or index >= torch.cuda.device_count():
        return None
    major, minor = torch.cuda.get_device_capability(index)
    version = rtx_version(import_rtx())
    folder = checkpoint_dir(o.engines_dir, loaded.sha256)
    for path in sorted(folder.glob(f"generator-{o.precision}-*-trtrtx*.plan")):
        meta = read_sidecar(path)
        prof = (meta or {}).get("profile") or {}
        if (staleness_for(loaded, path, meta, precision=o.precision, engines_dir=o.engines_dir).stale
                or not rtx_diffs(meta, version=version, gpu_target=target_of(f"{major}.{minor}")) == []
                or not int(prof.get("min_batch", 1)) <= o.batch_size <= int(prof.get("max_batch", 0))):
            continue
        from .tensorrt_backend import TensorRTBackend

        log(f"backend: tensorrt (TensorRT for RTX {version}), plan {path}")
        return TensorRTBackend(path, device_index=index, meta=meta)
    return None


def _export(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Artifact:
    """This checkpoint's ONNX file for the CPU engines, exported once and cached under ``engines_dir``."""
    try:
        with build_lock(checkpoint_dir(o.engines_dir, loaded.sha256)):  # a second process waits, then reuses
            return ensure_onnx(loaded, o.engines_dir, precision=o.precision, log=log)
    except OSError as exc:
        raise EngineUnavailable(f"cannot write the ONNX export under {o.engines_dir} ({exc}); pass a writable "
                                "--engines-dir, or use --backend torch") from exc


def _onnxruntime(loaded: LoadedCheckpoint, o: EngineOptions, log: Log, art: Artifact | None = None,
                 engine: Path | None = None) -> Backend:
    """ONNX Runtime over ``engine``, else over ``art``, else over this checkpoint's cached export."""
    from .onnx_backend import OnnxRuntimeBackend, providers_for

    _check_precision("onnxruntime", o.precision)
    ort_device = "cpu" if o.device == "auto" else o.device
    providers_for(ort_device)  # fail with the install hint before spending time on an export
    if engine is not None:
        return OnnxRuntimeBackend(engine, device=ort_device, meta=read_sidecar(engine))
    art = art or _export(loaded, o, log)
    log(f"backend: onnxruntime on {ort_device}, {'exported' if art.built else 'cached'} {art.path}")
    return OnnxRuntimeBackend(art.path, device=ort_device, meta=art.meta)


def _openvino_device(device: str) -> None:
    if device not in ("auto", "cpu"):
        raise EngineUnavailable(f"--backend openvino runs on the CPU here, not on --device {device}; use "
                                "--backend tensorrt or --backend torch --device cuda on an NVIDIA GPU")


def _openvino_streams(batch_size: int) -> int | None:
    """One stream (all cores on one batch) for batch 1, else OpenVINO's throughput default."""
    return 1 if batch_size <= 1 else None


def _openvino_ready(o: EngineOptions) -> int | None:
    """Checks shared by every OpenVINO route (install, device, bf16 units); the stream count to use."""
    from .openvino_backend import bf16_missing, import_openvino

    _check_precision("openvino", o.precision)
    _openvino_device(o.device)
    ov = import_openvino()  # fail with the install hint before spending time on a build
    if o.precision == "bf16" and (missing := bf16_missing(ov)):
        raise EngineUnavailable(missing)
    return _openvino_streams(o.batch_size)


def _openvino_in_memory(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Backend:
    """OpenVINO over this checkpoint's graph built in memory (engines.openvino_engine); raises
    WriterUnsupported or ParityError when that graph cannot serve, EngineUnavailable when OpenVINO cannot."""
    from .openvino_engine import prepare_openvino

    backend = prepare_openvino(loaded, o.engines_dir, precision=o.precision, streams=_openvino_ready(o), log=log)
    log(f"backend: openvino on cpu ({backend.streams} stream(s), {backend.inference_precision}), graph built in "
        f"memory, parity {backend.parity.get('max_abs_diff'):.2g} (<= {backend.parity.get('tolerance'):g})")
    return backend


def _openvino(loaded: LoadedCheckpoint, o: EngineOptions, log: Log, art: Artifact | None = None,
              engine: Path | None = None) -> Backend:
    """OpenVINO over ``engine``, else over ``art``, else over this checkpoint's graph built in memory,
    else (that graph cannot be built, or disagrees in fp32) over this checkpoint's ONNX export."""
    from .graph_writer import WriterUnsupported
    from .openvino_backend import OpenVinoBackend, check_bf16_parity

    streams = _openvino_ready(o)
    if engine is None and art is None:
        try:
            return _openvino_in_memory(loaded, o, log)
        except WriterUnsupported as exc:
            log(f"openvino: the in-memory graph cannot be built ({exc}); using an ONNX export")
        except ParityError as exc:
            if o.precision == "bf16":
                raise
            log(f"openvino: {exc}; using an ONNX export")
    if engine is not None:
        backend = OpenVinoBackend(engine, streams=streams, meta=read_sidecar(engine), precision=o.precision)
    else:
        art = art or _export(loaded, dataclasses.replace(o, precision=_graph_precision(o.precision)), log)
        backend = OpenVinoBackend(art.path, streams=streams, meta=art.meta, precision=o.precision)
        log(f"backend: openvino on cpu ({backend.streams} stream(s), {backend.inference_precision}), "
            f"{'exported' if art.built else 'cached'} {art.path}")
    if o.precision == "bf16":
        s = loaded.settings
        parity = check_bf16_parity(backend, loaded.generator, img_size=s.img_size, n_attrs=s.n_attrs,
                                   n_style=s.n_style)
        if not parity.passed:
            raise ParityError(f"OpenVINO's bf16 engine disagrees with PyTorch fp32 (max abs diff "
                              f"{parity.max_abs_diff:.3g} > {parity.tolerance:g}); not using it. Use --precision fp32.")
        log(f"openvino bf16 parity vs pytorch fp32: max abs diff {parity.max_abs_diff:.2g} (<= {parity.tolerance:g})")
    return backend


def _explicit_engine(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Backend:
    engine = Path(o.engine)
    kind = "tensorrt" if engine.suffix in PLAN_SUFFIXES else "onnxruntime" if engine.suffix == ".onnx" else None
    if kind == "onnxruntime" and o.backend == "openvino":  # an .onnx file runs on either CPU engine
        kind = "openvino"
    if kind is None:
        raise EngineUnavailable(f"--engine {engine}: expected a .onnx file or a TensorRT .plan file")
    if o.backend not in ("auto", kind):
        raise EngineUnavailable(f"--engine {engine} is a {kind} artefact but --backend {o.backend} was asked for; "
                                f"use --backend {kind} or drop --engine")
    if not engine.is_file():
        raise EngineUnavailable(f"--engine {engine} does not exist; build one with `attgan-batch build-engine`")
    _check_precision(kind, o.precision)
    meta = read_sidecar(engine)
    if kind == "tensorrt":
        from .tensorrt_env import tensorrt_ready, tensorrt_version

        trt, gpu = tensorrt_ready(_gpu_index(o.device))
        report = staleness_for(loaded, engine, meta, precision=o.precision, engines_dir=o.engines_dir,
                               batch_size=o.batch_size, tensorrt_version=tensorrt_version(trt), gpu=gpu)
    else:
        report = staleness_for(loaded, engine, meta, precision=_graph_precision(o.precision),
                               engines_dir=o.engines_dir)
    if report.stale:
        raise EngineUnavailable(f"refusing {report.message()}  -- or run without --engine.")
    if ((meta or {}).get("parity") or {}).get("status") == "failed":
        raise EngineUnavailable(f"refusing {engine}: its parity check failed ({meta['parity']}); rebuild it with: "
                                f"{report.command}")
    log(f"backend: {kind}, engine {engine}")
    if kind == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(engine, device_index=_gpu_index(o.device), meta=meta, rebuild=report.command)
    if kind == "openvino":
        return _openvino(loaded, o, log, engine=engine)
    return _onnxruntime(loaded, o, log, engine=engine)


def _torch(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Backend:
    """The PyTorch backend (the one place it is built), through torch.compile when asked (--compile)."""
    dev = resolve_device(o.device)
    if not o.compile:
        log(f"backend: torch on {dev}")
        return TorchBackend(loaded.generator, device=dev, precision=o.precision)
    log(f"backend: torch on {dev}, compiling the generator for batch {o.batch_size} (torch.compile, ~20 s)")
    backend = TorchBackend(loaded.generator, device=dev, precision=o.precision, compile=True,
                           batch_size=o.batch_size, img_size=loaded.settings.img_size)
    log(f"compiled in {backend.compile_seconds:.1f} s")
    return backend


def _auto(loaded: LoadedCheckpoint, o: EngineOptions, log: Log) -> Backend:
    from .onnx_backend import onnxruntime_available
    from .openvino_backend import openvino_available

    dev = resolve_device(o.device)
    o = dataclasses.replace(o, device=str(dev))
    if dev.type == "cuda":
        try:
            return _tensorrt(loaded, o, log)
        except EngineUnavailable as exc:
            log(f"auto: not using TensorRT: {exc}")
        return _torch(loaded, o, log)
    if o.compile:  # asked for: compiled torch instead of OpenVINO / ONNX Runtime on the CPU
        return _torch(loaded, o, log)
    if o.precision == "bf16":  # asked for explicitly: OpenVINO's bf16, or an error saying what is missing
        return _openvino(loaded, dataclasses.replace(o, device="cpu"), log)
    if o.precision != "fp32":
        log(f"auto: {o.precision} is slower than fp32 on a CPU; using fp32")
    cpu = dataclasses.replace(o, device="cpu", precision="fp32")
    if openvino_available():  # its graph is built in memory: no export, no onnx packages needed
        from .graph_writer import WriterUnsupported

        try:
            return _openvino_in_memory(loaded, cpu, log)
        except (EngineUnavailable, WriterUnsupported) as exc:  # ParityError is an EngineUnavailable
            log(f"auto: openvino's in-memory engine is not usable here ({exc}); trying an ONNX export")
    if not onnxruntime_available():  # the ONNX export and its parity check need the [onnx] extra
        log("auto: onnxruntime is not installed (`pip install 'attgan-batch[onnx,openvino]'` makes CPU runs "
            "1.3-4x faster)")
        return _torch(loaded, o, log)
    try:  # once, for both CPU engines
        art = _export(loaded, cpu, log)
    except EngineUnavailable as exc:  # includes ParityError and an unwritable engines dir
        log(f"auto: no usable ONNX export: {exc}")
        return _torch(loaded, o, log)
    if openvino_available():
        try:
            return _openvino(loaded, cpu, log, art)
        except EngineUnavailable as exc:
            log(f"auto: not using openvino: {exc}; trying onnxruntime")
    else:
        log("auto: openvino is not installed (`pip install 'attgan-batch[openvino]'` is ~1.1-1.2x faster "
            "than onnxruntime on CPUs); using onnxruntime")
    try:
        return _onnxruntime(loaded, cpu, log, art)
    except EngineUnavailable as exc:
        log(f"auto: not using onnxruntime: {exc}")
        return _torch(loaded, o, log)


def predict_auto(loaded: LoadedCheckpoint, engines_dir: Path | None = None) -> str:
    """What ``run --backend auto`` would pick here, without building anything (for ``info``)."""
    import torch

    from .artifacts import cached_onnx
    from .onnx_backend import onnxruntime_available
    from .openvino_backend import openvino_available

    if torch.cuda.is_available():
        return "tensorrt if a fresh plan is in the engines folder (build-engine --target tensorrt), else torch on cuda"
    engines_dir = resolve_engines_dir(engines_dir)
    if openvino_available():
        return (f"openvino on cpu, over the generator's graph built in memory (checked against PyTorch on a "
                f"checkpoint's first run; the check is recorded in {engines_dir})")
    if not onnxruntime_available():
        return "torch on cpu (install the [onnx,openvino] extras for OpenVINO / ONNX Runtime)"
    cached = cached_onnx(loaded, engines_dir, "fp32") is not None
    return "onnxruntime on cpu, over " + (f"the cached export in {engines_dir}" if cached else
                                          f"an ONNX export made on the first run and cached in {engines_dir}")


_BY_CHOICE = {"torch": _torch, "onnxruntime": _onnxruntime, "openvino": _openvino, "tensorrt": _tensorrt,
              "auto": _auto}


def select_backend(loaded: LoadedCheckpoint, options: EngineOptions | None = None, *, log: Log = print) -> Backend:
    """The inference engine a run asks for.

    Args:
        loaded: the checkpoint whose generator the engine runs.
        options: backend, device, precision, batch size, explicit engine file, engines folder,
            ``compile`` (see :class:`EngineOptions`); ``auto`` picks the fastest that is fresh and
            works here and logs every fallback with its reason.
        log: receives one line per decision (``backend: openvino on cpu ...``).

    Raises:
        EngineUnavailable: the backend asked for cannot run here; the message says why and what
            to use instead.
    """
    o = options or EngineOptions()
    if o.backend not in CHOICES:
        raise EngineUnavailable(f"unknown backend {o.backend!r}; choose one of {', '.join(CHOICES)}")
    o = dataclasses.replace(o, engines_dir=resolve_engines_dir(o.engines_dir))
    if o.compile and (o.backend in ("tensorrt", *CPU_ENGINES) or o.engine is not None):
        raise EngineUnavailable(f"--compile applies to the torch backend, not to --backend {o.backend}"
                                + (" with --engine" if o.engine is not None else "") + "; drop one of them")
    if o.engine is not None:
        if o.backend == "torch":
            raise EngineUnavailable("--engine is for --backend tensorrt, openvino or onnxruntime; drop it for "
                                    "--backend torch")
        return _explicit_engine(loaded, o, log)
    return _BY_CHOICE[o.backend](loaded, o, log)
