"""``attgan-batch run``: edit every row of a manifest."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape
from rich.table import Table

from ._common import checkpoint_option, fail, stderr_console
from ._photo_options import photo_options, photo_run_options
from ._scale import scale_options, scale_run_options


@click.command("run")
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder for images, report.csv and report.json (created if missing).")
@checkpoint_option
@click.option("--batch-size", "-b", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Generator images per batch.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CUDA when a GPU is usable, else CPU.")
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "openvino", "onnxruntime", "torch"]),
              default="auto", show_default=True,
              help="auto: TensorRT plan on a GPU, else OpenVINO or ONNX Runtime on CPU, else torch.")
@click.option("--engine", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A built engine (.onnx or .plan) to use; refused when its sidecar does not match. An .onnx "
                   "file runs on ONNX Runtime, or on OpenVINO with --backend openvino.")
@click.option("--engines-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("engines"),
              show_default=True, help="Where auto looks for (and caches) exported engines.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), default="fp32", show_default=True,
              help="Engine precision (fp16 needs a GPU to be faster).")
@click.option("--compile", "compile_", is_flag=True,
              help="Run the torch backend through torch.compile (~20 s to compile, needs a C++ compiler); "
                   "with --backend auto it replaces OpenVINO/ONNX Runtime on the CPU and eager torch on a GPU "
                   "without a TensorRT plan. Pays off on long runs with large batches (docs/engines.md).")
@click.option("--workers", "-j", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads decoding and preprocessing images while the generator runs.")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default="png", show_default=True,
              help="Output format when a row's output name has no extension.")
@click.option("--conflicts", type=click.Choice(["resolve", "error", "ignore"]), default="resolve",
              show_default=True, help="resolve: apply the attribute-conflict rules and record each change; "
                                       "error: fail rows that break a rule; ignore: use vectors as given.")
@click.option("--rules", type=click.Choice(["reference", "tensorflow"]), default="reference", show_default=True,
              help="Conflict rule set; 'tensorflow' drops the Mustache/No_Beard rule.")
@click.option("--crop", type=click.Choice(["auto", "celeba", "square", "none"]), default="auto", show_default=True,
              help="celeba: centre 170 px crop as the reference; square: centre square; auto: celeba for "
                   "178x218 CelebA-aligned files, else square.")
@click.option("--max-failures", type=click.IntRange(0), default=None,
              help="Stop (exit 1) once more than N rows failed; the rest are reported as skipped.")
@click.option("--force", is_flag=True, help="Redo rows an earlier run into --out already finished.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
@photo_options  # --align --face --margin --no-paste --classifier --grid --style-sweep (cli/_photo_options.py)
@scale_options  # --shard --executor --ray-address --num-gpus-per-worker (cli/_scale.py)
def run_command(manifest, out_dir, checkpoint, batch_size, device, backend, engine, engines_dir, precision, compile_,
                workers, fmt, conflicts, rules, crop, max_failures, force, quiet, **photo):
    """Edit every row of MANIFEST and write the images plus report.csv / report.json into --out.

    \b
    Rows that fail (missing or corrupt image, bad vector, unknown attribute...) are reported with
    the reason; the others proceed. Rerunning the same command resumes: rows whose image, edit
    columns, output name, checkpoint and pixel options are unchanged are kept; the others are redone.
    \b
    Exit codes: 0 all rows ok, 1 some rows failed (or --max-failures hit), 2 usage or setup
    error, 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (in both cases in-flight rows are
    finished and the report is written).
    \b
    Example:
      attgan-batch run manifests/demo.csv --out edited/ --batch-size 32
    """
    from ..errors import AttGANBatchError
    from ..pipeline import (EditOptions, EngineOptions, OutputOptions, PhotoOptions, RunOptions, StopRequest,
                            run_manifest)

    console = stderr_console()
    align, output, classifier = photo_run_options(photo)
    options = RunOptions(
        out_dir=out_dir, checkpoint=checkpoint, workers=workers, max_failures=max_failures, force=force,
        engine=EngineOptions(backend=backend, device=device, precision=precision, batch_size=batch_size,
                             engine=engine, engines_dir=engines_dir, compile=compile_),
        edit=EditOptions(conflicts=conflicts, rules=rules, crop=crop, classifier=classifier),
        output=OutputOptions(fmt=fmt, **output),
        photo=PhotoOptions(align=align),
        scale=scale_run_options(photo),
        log=(lambda message: None) if quiet else (lambda message: console.print(f"[dim]{message}")))
    stop = StopRequest()
    previous = _install_stop_signals(stop, console)
    progress = Progress(TextColumn("[bold]editing"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]} rows/s"), TextColumn("[red]{task.fields[failed]} failed"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=quiet, transient=False)
    task = None

    def on_start(total):
        nonlocal task
        task = progress.add_task("run", total=total, rate="-", failed=0)

    def on_progress(done, failed):
        if task is not None:
            elapsed = progress.tasks[0].elapsed or 0
            progress.update(task, completed=done, failed=failed,
                            rate=f"{done / elapsed:.1f}" if elapsed > 0 else "-")

    try:
        with progress:
            summary = run_manifest(manifest, options, stop=stop, on_progress=on_progress, on_start=on_start)
    except AttGANBatchError as exc:
        fail(escape(str(exc)))  # messages hold brackets, e.g. pip install 'attgan-batch[ray]'
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not quiet:
        _print_summary(console, summary)
    elif summary.warnings or summary.aborted:  # e.g. where the report went when --out was not writable
        for warning in summary.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
        if summary.aborted:
            console.print(f"[red]stopped:[/] {escape(summary.aborted)}")
    raise SystemExit(summary.exit_code)


def _install_stop_signals(stop, console) -> dict:
    """Ctrl-C (SIGINT) or SIGTERM (what CI sends on cancel or timeout): finish in-flight rows, write
    the report, exit 130 or 143. A second signal aborts at once."""
    codes = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.request(codes.get(signum, 130))
        name = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
        console.print(f"[yellow]{name}: finishing in-flight rows and writing the report "
                      "(Ctrl-C again to abort)[/]")

    previous = {}
    for signum in codes:
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread (e.g. called from a library); no handler
            pass
    return previous


def _print_summary(console, summary) -> None:
    data = summary.to_dict()
    table = Table(title="attgan-batch run", show_header=False, title_justify="left")
    counts = data["counts"]
    table.add_row("rows", f"{counts['rows']}  (ok {counts['ok']}, failed {counts['failed']}, "
                          f"skipped {counts['skipped']}, resumed {counts['resumed']})")
    table.add_row("throughput", f"{data['throughput']['images_per_second']} images/s in {data['seconds']} s")
    table.add_row("backend", ", ".join(f"{k}={v}" for k, v in summary.backend.items()))
    table.add_row("report", f"{summary.report_csv}\n{summary.report_json}")
    for warning in summary.warnings:
        table.add_row("[yellow]warning", warning)
    if summary.aborted:
        table.add_row("[red]stopped", summary.aborted)
    console.print(table)
    if counts["failed"]:
        console.print(f"[red]{counts['failed']} row(s) failed; see the error column of {summary.report_csv}[/]")
