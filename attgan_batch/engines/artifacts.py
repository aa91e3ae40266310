"""Where engine artefacts live under ``engines/``, and making each one once, with its sidecar.

Layout (keyed by checkpoint sha256, so two checkpoints never share an artefact)::

    engines/<sha256[:16]>/generator-fp32.onnx (+ .onnx.json)         the CPU graph form (OpenVINO, ONNX Runtime)
    engines/<sha256[:16]>/generator-fp16-plain.onnx (+ .onnx.json)   the plain form TensorRT plans are built from
    engines/<sha256[:16]>/generator-fp16-b1-8-32-trt11.4.0-nvidia-h100-sm90.plan (+ .plan.json)
    engines/timing-cache/trt11.4.0-nvidia-h100-sm90.cache
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..model import LoadedCheckpoint
from .export import PARITY_BATCH, ParityError, export_onnx
from .gemm_layers import GRAPH_FORM
from .sidecar import build_meta, check_staleness, format_profile, read_sidecar, write_sidecar
from .tensorrt_env import GpuInfo

DEFAULT_PROFILE = (1, 8, 32)
Log = Callable[[str], Any]


@dataclass
class Artifact:
    path: Path
    meta: dict[str, Any]
    built: bool  # made by this call (False: a fresh cached one was reused)
    seconds: float = 0.0


def checkpoint_source(loaded: LoadedCheckpoint) -> Path:
    """What to pass back to --checkpoint: the experiment folder when there is a setting.txt."""
    return loaded.setting_path.parent if loaded.setting_path is not None else loaded.weights_path


def checkpoint_dir(engines_dir: str | Path, checkpoint_sha256: str) -> Path:
    return Path(engines_dir) / checkpoint_sha256[:16]


def onnx_path(engines_dir: str | Path, checkpoint_sha256: str, precision: str, graph: str = "cpu") -> Path:
    """``graph``: "cpu" (GEMM / Winograd forms, for OpenVINO and ONNX Runtime) or "plain" (for TensorRT)."""
    suffix = "" if graph == "cpu" else f"-{graph}"
    return checkpoint_dir(engines_dir, checkpoint_sha256) / f"generator-{precision}{suffix}.onnx"


def graph_form(graph: str) -> str:
    """What an ONNX sidecar records as its ``graph``: the CPU form's version, or "plain"."""
    return GRAPH_FORM if graph == "cpu" else graph


def plan_path(engines_dir: str | Path, checkpoint_sha256: str, precision: str, profile: tuple[int, int, int],
              trt_version: str, gpu: GpuInfo) -> Path:
    lo, opt, hi = profile
    name = f"generator-{precision}-b{lo}-{opt}-{hi}-trt{trt_version}-{gpu.slug}.plan"
    return checkpoint_dir(engines_dir, checkpoint_sha256) / name


def staleness_for(loaded: LoadedCheckpoint, artifact: Path, meta: dict[str, Any] | None, *, precision: str,
                  engines_dir: str | Path, batch_size: int | None = None, tensorrt_version: str | None = None,
                  gpu: GpuInfo | None = None, graph: str | None = None):
    return check_staleness(
        artifact, meta, checkpoint_sha256=loaded.sha256, checkpoint_path=checkpoint_source(loaded),
        precision=precision, image_size=loaded.settings.img_size, engines_dir=engines_dir,
        batch_size=batch_size, tensorrt_version=tensorrt_version, gpu=gpu.to_dict() if gpu else None, graph=graph,
    )


def _usable(meta: dict[str, Any] | None) -> bool:
    return bool(meta) and (meta.get("parity") or {}).get("status") != "failed"


def cached_onnx(loaded: LoadedCheckpoint, engines_dir: str | Path, precision: str,
                graph: str = "cpu") -> Artifact | None:
    path = onnx_path(engines_dir, loaded.sha256, precision, graph)
    if not path.is_file():
        return None
    meta = read_sidecar(path)
    report = staleness_for(loaded, path, meta, precision=precision, engines_dir=engines_dir, graph=graph_form(graph))
    if report.stale or not _usable(meta):
        return None
    return Artifact(path, meta or {}, built=False)


def ensure_onnx(loaded: LoadedCheckpoint, engines_dir: str | Path, *, precision: str = "fp32",
                profile: tuple[int, int, int] = DEFAULT_PROFILE, force: bool = False, log: Log = print,
                graph: str = "cpu") -> Artifact:
    """The cached export for this checkpoint, precision and graph form, or a new one (exported once, parity-checked)."""
    if not force and (cached := cached_onnx(loaded, engines_dir, precision, graph)) is not None:
        return cached
    path = onnx_path(engines_dir, loaded.sha256, precision, graph)
    if path.is_file() and not force:
        report = staleness_for(loaded, path, read_sidecar(path), precision=precision, engines_dir=engines_dir,
                               graph=graph_form(graph))
        log(f"{path} is stale ({report.reasons() or 'its parity check failed'}); exporting again")
    s = loaded.settings
    log(f"exporting the generator to ONNX ({precision}, {graph} graph, opset 18) -> {path}: once for this "
        "checkpoint (a few seconds), then reused from this cache")
    result = export_onnx(loaded.generator, path, img_size=s.img_size, n_attrs=s.n_attrs, precision=precision,
                         graph=graph, log=log)
    meta = build_meta(
        target="onnx", artifact=path, checkpoint_sha256=loaded.sha256, checkpoint_path=checkpoint_source(loaded),
        precision=precision, opset=result.opset, image_size=s.img_size, n_attrs=s.n_attrs, profile=profile,
        parity=result.parity.to_dict(), onnx_sha256="", exporter=result.exporter,
        extra={"export_seconds": round(result.seconds, 2), "notes": result.notes, "n_style": s.n_style,
               "graph": graph_form(graph)},
    )
    meta["onnx_sha256"] = meta["artifact_sha256"]  # the same file: hashed once by build_meta (~300 MB)
    write_sidecar(path, meta)
    return Artifact(path, meta, built=True, seconds=result.seconds)


def find_plan(loaded: LoadedCheckpoint, engines_dir: str | Path, *, precision: str, batch_size: int,
              tensorrt_version: str, gpu: GpuInfo) -> Artifact | None:
    """A fresh plan for this checkpoint, precision, TensorRT version and GPU whose profile covers batch_size."""
    folder = checkpoint_dir(engines_dir, loaded.sha256)
    fresh: list[Artifact] = []
    for path in sorted(folder.glob(f"generator-{precision}-*.plan")):
        meta = read_sidecar(path)
        report = staleness_for(loaded, path, meta, precision=precision, engines_dir=engines_dir,
                               batch_size=batch_size, tensorrt_version=tensorrt_version, gpu=gpu)
        if not report.stale and _usable(meta):
            fresh.append(Artifact(path, meta or {}, built=False))
    if not fresh:
        return None
    return min(fresh, key=lambda art: abs(int(art.meta["profile"]["opt_batch"]) - batch_size))


def ensure_plan(loaded: LoadedCheckpoint, engines_dir: str | Path, *, precision: str = "fp32",
                profile: tuple[int, int, int] = DEFAULT_PROFILE, workspace_gib: float = 4.0,
                device_index: int = 0, force: bool = False, log: Log = print) -> Artifact:
    """Export (or reuse) the ONNX file, build a plan from it, compare the plan with ONNX golden outputs."""
    from .tensorrt_build import build_plan, compare_with_onnx
    from .tensorrt_env import tensorrt_ready, tensorrt_version

    trt, gpu = tensorrt_ready(device_index)
    version = tensorrt_version(trt)
    path = plan_path(engines_dir, loaded.sha256, precision, profile, version, gpu)
    if path.is_file() and not force:
        meta = read_sidecar(path)
        report = staleness_for(loaded, path, meta, precision=precision, engines_dir=engines_dir,
                               tensorrt_version=version, gpu=gpu)
        if not report.stale and _usable(meta):
            return Artifact(path, meta or {}, built=False)
    # the plain graph: TensorRT picks its own convolution tactics, and Winograd in fp16 adds error
    onnx = ensure_onnx(loaded, engines_dir, precision=precision, profile=profile, log=log, graph="plain")
    s = loaded.settings
    build = build_plan(onnx.path, path, profile=profile, image_size=s.img_size, n_attrs=s.n_attrs,
                       precision=precision, engines_dir=engines_dir, workspace_gib=workspace_gib,
                       device_index=device_index, n_style=s.n_style, log=log)
    parity = compare_with_onnx(path, onnx.path, image_size=s.img_size, n_attrs=s.n_attrs, precision=precision,
                               batch=PARITY_BATCH, device_index=device_index, n_style=s.n_style)
    meta = build_meta(
        target="tensorrt", artifact=path, checkpoint_sha256=loaded.sha256, checkpoint_path=checkpoint_source(loaded),
        precision=precision, opset=int(onnx.meta.get("opset", 18)), image_size=s.img_size, n_attrs=s.n_attrs,
        profile=profile, parity=parity.to_dict(), onnx_sha256=onnx.meta["onnx_sha256"],
        exporter=onnx.meta.get("exporter"), tensorrt_version=version, gpu=gpu.to_dict(),
        extra={"build_seconds": round(build.seconds, 1), "timing_cache": str(build.timing_cache),
               "timing_cache_reused": build.timing_cache_reused, "workspace_gib": workspace_gib,
               "n_style": s.n_style},
    )
    write_sidecar(path, meta)
    if parity.status == "failed":
        raise ParityError(
            f"the TensorRT plan {path} disagrees with the ONNX golden outputs (max abs diff "
            f"{parity.max_abs_diff:.3g} > {parity.tolerance:g}); it will not be used. Try --precision fp32, "
            f"or use --backend onnxruntime / torch. (profile {format_profile(profile)})"
        )
    return Artifact(path, meta, built=True, seconds=build.seconds)


def ensure_rtx_plan(loaded: LoadedCheckpoint, engines_dir: str | Path, *, precision: str = "fp32",
                    profile: tuple[int, int, int] = DEFAULT_PROFILE, targets: list[str],
                    force: bool = False, log: Log = print) -> Artifact:
    """A TensorRT for RTX plan for ``targets`` (``["SM86", "SM89"]``), built ahead of time from the
    plain graph without a GPU; a fresh one (same checkpoint, precision, profile, targets, version) is
    reused. Its parity is checked where it runs: building needs no GPU, running does."""
    from .export import Parity
    from .tensorrt_rtx import FLAVOUR, build_rtx_plan, import_rtx, plan_name, rtx_diffs, rtx_version

    version = rtx_version(import_rtx())
    path = checkpoint_dir(engines_dir, loaded.sha256) / plan_name(precision, profile, version, targets)
    s = loaded.settings
    if path.is_file() and not force:
        meta = read_sidecar(path)
        report = staleness_for(loaded, path, meta, precision=precision, engines_dir=engines_dir)
        prof = (meta or {}).get("profile") or {}
        same_profile = (prof.get("min_batch"), prof.get("opt_batch"), prof.get("max_batch")) == tuple(profile)
        if not report.stale and same_profile and not rtx_diffs(meta, version=version, targets=targets):
            return Artifact(path, meta or {}, built=False)
    onnx = ensure_onnx(loaded, engines_dir, precision=precision, profile=profile, log=log, graph="plain")
    build = build_rtx_plan(onnx.path, path, profile=profile, image_size=s.img_size, n_attrs=s.n_attrs,
                           targets=targets, n_style=s.n_style, log=log)
    parity = Parity("skipped", None, 1e-3 if precision == "fp32" else 1e-2, "onnxruntime golden outputs", PARITY_BATCH,
                    "built ahead of time without a GPU: the plan is checked when it first runs on one")
    meta = build_meta(
        target="tensorrt", artifact=path, checkpoint_sha256=loaded.sha256, checkpoint_path=checkpoint_source(loaded),
        precision=precision, opset=int(onnx.meta.get("opset", 18)), image_size=s.img_size, n_attrs=s.n_attrs,
        profile=profile, parity=parity.to_dict(), onnx_sha256=onnx.meta["onnx_sha256"],
        exporter=onnx.meta.get("exporter"), tensorrt_version=version, gpu=None,
        extra={"flavour": FLAVOUR, "compute_capabilities": list(targets), "graph": "plain",
               "build_seconds": round(build.seconds, 1), "n_style": s.n_style},
    )
    write_sidecar(path, meta)
    return Artifact(path, meta, built=True, seconds=build.seconds)
