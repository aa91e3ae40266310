"""Build a TensorRT plan from the exported ONNX file, then check it against ONNX golden outputs.

Strongly typed network (TensorRT 11 has no other kind; on 10.x the flag is set), so the plan keeps
the precision the ONNX graph carries. One optimisation profile from ``--batch MIN:OPT:MAX``. The
timing cache is kept per TensorRT version and GPU under ``engines/timing-cache/`` because entries
from another version or GPU are rejected and would only slow the next build down.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..atomic import write_atomic
from ..errors import EngineUnavailable
from .export import Parity, parity_inputs
from .tensorrt_profile import add_batch_profile
from .tensorrt_env import FALLBACK, GpuInfo, tensorrt_major, tensorrt_ready, tensorrt_version

# plan vs ONNX golden outputs: GPU kernels sum in another order than the CPU (fp32 is built without
# TF32); both bounds stay below one 8-bit level (2/255 ~ 7.8e-3) for fp32 and near it for fp16
PLAN_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}


@dataclass
class PlanBuild:
    path: Path
    seconds: float
    tensorrt_version: str
    gpu: GpuInfo
    timing_cache: Path
    timing_cache_reused: bool


def timing_cache_path(engines_dir: str | Path, trt_version: str, gpu: GpuInfo) -> Path:
    return Path(engines_dir) / "timing-cache" / f"trt{trt_version}-{gpu.slug}.cache"


def _parse(trt: Any, network: Any, logger: Any, onnx_path: Path) -> Any:
    """The parser, which the caller must keep alive until the build: it owns the network's weights."""
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineUnavailable(
            f"TensorRT {tensorrt_version(trt)} cannot parse {onnx_path}: {'; '.join(errors) or 'unknown error'}. "
            f"Re-export it with `attgan-batch build-engine --target onnx`, or {FALLBACK}."
        )
    return parser


def build_plan(onnx_path: str | Path, plan_path: str | Path, *, profile: tuple[int, int, int], image_size: int,
               n_attrs: int, precision: str, engines_dir: str | Path, workspace_gib: float = 4.0,
               optimization_level: int = 3, device_index: int = 0, n_style: int = 0,
               log: Callable[[str], Any] = print) -> PlanBuild:
    """Serialize a plan for ``profile`` (min, opt, max batch) to ``plan_path``; EngineUnavailable on failure."""
    trt, gpu = tensorrt_ready(device_index)
    version = tensorrt_version(trt)
    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    torch.cuda.set_device(device_index)
    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except TypeError as exc:  # libraries load but CUDA does not initialise: "factory function returned nullptr"
        raise EngineUnavailable(f"TensorRT {version} could not initialise CUDA ({exc}); check the driver "
                                f"(nvidia-smi) and `docker run --gpus all`, or {FALLBACK}.") from exc
    flags = 0
    if tensorrt_major(trt) < 11:  # 11.x is always strongly typed; the flag is deprecated and ignored there
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = _parse(trt, network, logger, onnx_path)  # kept alive until the plan is built

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    config.builder_optimization_level = optimization_level
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 convs drift ~1e-3 from PyTorch
    add_batch_profile(builder, config, profile, image_size=image_size, n_attrs=n_attrs, n_style=n_style)
    lo, opt, hi = profile

    cache_path = timing_cache_path(engines_dir, version, gpu)
    reused = cache_path.is_file()
    cache = config.create_timing_cache(cache_path.read_bytes() if reused else b"")
    if cache is None:  # unreadable cache file: start a fresh one rather than fail the build
        log(f"ignoring unreadable timing cache {cache_path}")
        reused, cache = False, config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)

    log(f"building TensorRT {version} plan for {gpu.name} (sm {gpu.compute_capability}), batch {lo}:{opt}:{hi}, "
        f"{precision}; this takes a few minutes the first time")
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    del parser
    if serialized is None:
        raise EngineUnavailable(
            f"TensorRT {version} failed to build a plan from {onnx_path} (see its log above; a smaller --batch "
            f"MAX or a larger workspace may help). Meanwhile {FALLBACK}."
        )
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(plan_path, bytes(serialized))
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return PlanBuild(plan_path, time.perf_counter() - start, version, gpu, cache_path, reused)


def compare_with_onnx(plan_path: str | Path, onnx_path: str | Path, *, image_size: int, n_attrs: int,
                      precision: str, batch: int, device_index: int = 0, n_style: int = 0) -> Parity:
    """Max |plan - ONNX Runtime| on fixed inputs (PyTorch-checked ONNX outputs are the golden ones)."""
    from .onnx_backend import onnxruntime_available, run_onnx
    from .tensorrt_backend import TensorRTBackend

    tolerance = PLAN_TOLERANCE[precision]
    if not onnxruntime_available():
        return Parity("skipped", None, tolerance, "onnxruntime golden outputs", batch,
                      "onnxruntime is not installed (pip install 'attgan-batch[onnx]')")
    inputs = parity_inputs(image_size, n_attrs, batch, n_style=n_style)
    golden = run_onnx(onnx_path, *inputs)
    got = TensorRTBackend(plan_path, device_index=device_index).infer(*inputs)
    diff = float((got - golden).abs().max())
    status = "passed" if diff <= tolerance else "failed"
    return Parity(status, diff, tolerance, f"onnxruntime on {Path(onnx_path).name}", batch)
