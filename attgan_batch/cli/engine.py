"""``attgan-batch build-engine``: export the generator to ONNX and, on a GPU, build a TensorRT plan."""
from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._common import fail, stderr_console


def _profile(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int, int]:
    from ..engines.sidecar import parse_profile

    try:
        return parse_profile(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _checkpoint(given: Path | None) -> Path:
    """--checkpoint (``demo``: the bundled model), else the bundled demo model."""
    from ..defaults import default_checkpoint
    from ..errors import AttGANBatchError

    try:
        return Path(default_checkpoint(given))
    except AttGANBatchError as exc:
        fail(escape(str(exc)))


@click.command("build-engine")
@click.option("--checkpoint", "-c", type=click.Path(path_type=Path), default=None,
              help="Experiment folder (setting.txt + checkpoint/weights.N.pth), its checkpoint/ folder, or a "
                   ".pth file. Default: the bundled demo model, when this install has one.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True,
              help="fp16: fp16 weights and compute inside the graph, fp32 inputs/outputs (fast on GPUs; "
                   "no faster on CPUs).")
@click.option("--batch", "profile", default="1:8:32", show_default=True, callback=_profile, metavar="MIN:OPT:MAX",
              help="Batch sizes the TensorRT plan accepts (MIN..MAX) and is tuned for (OPT); use the "
                   "--batch-size you run with as OPT. ONNX files accept any batch.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Engines folder; artefacts go to OUT/<checkpoint sha256[:16]>/ with a .json sidecar each. "
                   "Default: the per-user cache that `run` reads (`attgan-batch cache info`); with another "
                   "folder, give `run --engines-dir` the same.")
@click.option("--target", type=click.Choice(["auto", "onnx", "tensorrt"]), default="auto", show_default=True,
              help="auto: a TensorRT plan when TensorRT and a supported GPU are here, else ONNX only.")
@click.option("--workspace-gb", type=click.FloatRange(0.25, 1024), default=4.0, show_default=True,
              help="TensorRT builder workspace limit in GiB.")
@click.option("--gpu", "gpu_index", type=click.IntRange(0), default=0, show_default=True,
              help="Index of the GPU to build the TensorRT plan for (plans are tied to one GPU model).")
@click.option("--compute-capability", "compute_capability", default=None, metavar="86,89|all",
              help="Build the plan ahead of time with TensorRT for RTX (`[tensorrt-rtx]` extra; no GPU needed) "
                   "for these GPU architectures: 75, 80, 86, 89, 120, 121 or all (Turing to Ada and Blackwell "
                   "RTX). Without it, the plan is built for the GPU here.")
@click.option("--force", is_flag=True, help="Rebuild even when a fresh artefact already exists.")
def build_engine_command(checkpoint, precision, profile, out_dir, target, workspace_gb, gpu_index, compute_capability,
                         force):
    """Export the generator to ONNX (opset 18, dynamic batch) and, with TensorRT, build a plan from it.

    \b
    Every artefact is checked against PyTorch on fixed inputs before it is kept (max abs diff
    <= 1e-4 for fp32 ONNX, 5e-3 for fp16; a plan is compared with the ONNX outputs) and gets a
    JSON sidecar: checkpoint and ONNX sha256, opset, precision, batch profile, image size,
    tool / torch / onnx / onnxruntime / TensorRT versions, GPU and compute capability, parity.
    `run` refuses an artefact whose sidecar no longer matches and prints the command to rebuild.
    A fresh artefact is reused, not rebuilt (use --force to rebuild).
    \b
    Exit codes: 0 built (or already fresh), 1 the build or its parity check failed,
    2 usage or setup error (bad option, unusable checkpoint, --target tensorrt without
    TensorRT or a supported GPU).
    \b
    Examples:
      attgan-batch build-engine -c output/128_shortcut1_inject1_none
      attgan-batch build-engine -c output/128_shortcut1_inject1_none --target tensorrt \\
          --precision fp16 --batch 1:32:64
      docker run --gpus all -v $PWD:/work attgan-batch build-engine -c /work/ckpt --out /work/engines
    """
    from ..engines.cache import resolve_engines_dir

    out_dir = resolve_engines_dir(out_dir)
    from ..engines.artifacts import ensure_onnx, ensure_plan
    from ..engines.tensorrt_env import tensorrt_ready
    from ..errors import AttGANBatchError, EngineUnavailable
    from ..model import load_checkpoint

    err = stderr_console()
    out = Console(highlight=False)
    try:
        loaded = load_checkpoint(_checkpoint(checkpoint))
    except AttGANBatchError as exc:
        fail(escape(str(exc)))
    for note in loaded.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)

    rtx_targets = None
    if compute_capability is not None:  # ahead of time, with TensorRT for RTX, on any machine
        from ..engines.tensorrt_rtx import import_rtx, parse_targets

        if target == "onnx":
            raise click.UsageError("--compute-capability builds a TensorRT plan; drop --target onnx")
        try:
            rtx_targets = parse_targets(compute_capability, import_rtx())
        except EngineUnavailable as exc:
            fail(escape(str(exc)))
        target = "tensorrt-rtx"
    elif target in ("auto", "tensorrt"):
        try:
            tensorrt_ready(gpu_index)
            target = "tensorrt"
        except EngineUnavailable as exc:
            rtx_targets = _rtx_for_this_gpu(gpu_index)
            if rtx_targets is not None:  # no TensorRT, but TensorRT for RTX serves this GPU
                target = "tensorrt-rtx"
            elif target == "tensorrt":
                fail(escape(f"{exc} On a machine without a GPU, TensorRT for RTX builds plans for a GPU fleet ahead "
                            "of time: add --compute-capability 86,89 (or all) and pip install "
                            "'attgan-batch[tensorrt-rtx]'."))
            else:  # advise what build-engine itself can do, not run's --backend options
                from ..engines.tensorrt_env import FALLBACK

                reason = str(exc).replace(f"; {FALLBACK}.", ".").replace(f" {FALLBACK}.", "")
                err.print(f"[yellow]no TensorRT plan:[/] {escape(reason)}\nBuilding the ONNX file only (what `run` "
                          "uses on a CPU). To build plans for RTX GPUs here: --target tensorrt --compute-capability "
                          "86,89 (TensorRT for RTX).", soft_wrap=True)
                target = "onnx"

    def log(message: str) -> None:
        err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    try:
        artifacts = [ensure_onnx(loaded, out_dir, precision=precision, profile=profile, force=force, log=log)]
        if target == "tensorrt":
            artifacts.append(ensure_plan(loaded, out_dir, precision=precision, profile=profile,
                                         workspace_gib=workspace_gb, device_index=gpu_index, force=force, log=log))
        elif target == "tensorrt-rtx":
            from ..engines.artifacts import ensure_rtx_plan

            artifacts.append(ensure_rtx_plan(loaded, out_dir, precision=precision, profile=profile,
                                             targets=rtx_targets, force=force, log=log))
    except (AttGANBatchError, OSError) as exc:
        fail(escape(str(exc)), code=1)
    for art in artifacts:
        out.print(_summary(art))


def _rtx_for_this_gpu(gpu_index: int) -> list[str] | None:
    """[this GPU's target] when TensorRT for RTX is installed and serves the GPU here, else None."""
    import torch

    from ..engines.tensorrt_rtx import available_targets, import_rtx, rtx_available, target_of

    if not rtx_available() or not torch.cuda.is_available() or gpu_index >= torch.cuda.device_count():
        return None
    major, minor = torch.cuda.get_device_capability(gpu_index)
    wanted = target_of(f"{major}.{minor}")
    return [wanted] if wanted in available_targets(import_rtx()) else None


def _summary(art) -> Table:
    """One key/value table per artefact (readable in an 80-column terminal)."""
    from ..engines.sidecar import sidecar_path

    meta = art.meta
    profile = meta.get("profile") or {}
    parity = meta.get("parity") or {}
    kind = "TensorRT plan" if meta.get("target") == "tensorrt" else "ONNX"
    table = Table(title=f"{kind} ({meta.get('precision')})", title_justify="left", show_header=False,
                  box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("file", f"{escape(str(art.path))} ({art.path.stat().st_size / 1e6:.1f} MB)")
    table.add_row("sidecar", escape(str(sidecar_path(art.path))))
    batch = ("any (dynamic axis)" if profile.get("dynamic_batch") else
             f"{profile.get('min_batch')}:{profile.get('opt_batch')}:{profile.get('max_batch')} (min:opt:max)")
    table.add_row("input", f"batch {batch}, {profile.get('image_size')} px, {profile.get('n_attrs')} attributes")
    diff = parity.get("max_abs_diff")
    table.add_row("parity", f"max abs diff {diff:.2g} <= {parity.get('tolerance'):g} vs {parity.get('reference')}"
                  if diff is not None else f"[yellow]skipped[/]: {escape(str(parity.get('reason')))}")
    if meta.get("flavour") == "tensorrt-rtx":
        table.add_row("built for", f"TensorRT for RTX {(meta.get('versions') or {}).get('tensorrt')}, compute "
                                   f"capabilities {', '.join(meta.get('compute_capabilities') or [])}")
    elif meta.get("gpu"):
        gpu = meta["gpu"]
        table.add_row("built for", f"TensorRT {(meta.get('versions') or {}).get('tensorrt')} on {gpu.get('name')} "
                                   f"(sm {gpu.get('compute_capability')})")
    table.add_row("status", f"[green]built[/] in {art.seconds:.1f} s" if art.built else "[green]fresh[/], reused")
    return table
