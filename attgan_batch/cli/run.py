"""``attgan-batch run``: edit every row of a manifest."""
from __future__ import annotations

import signal
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape

from ._common import checkpoint_option, fail, stderr_console
from ._photo_options import photo_options, photo_run_options
from ._scale import scale_options, scale_run_options


@click.command("run")
@click.argument("inputs", nargs=-1, required=True, metavar="MANIFEST | PHOTOS...")
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
@click.option("--engines-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where engines are looked for and cached. Default: the per-user cache "
                   "($XDG_CACHE_HOME/attgan-batch/engines, else ~/.cache/attgan-batch/engines); "
                   "`attgan-batch cache info` shows it.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="Engine precision: fp32 is bit-stable; fp16 needs a GPU to be faster; bf16 runs with "
                   "OpenVINO on CPUs with bf16 units (or torch on CUDA).")
@click.option("--compile", "compile_", is_flag=True,
              help="Run the torch backend through torch.compile (~20 s to compile, needs a C++ compiler); "
                   "with --backend auto it replaces OpenVINO/ONNX Runtime on the CPU and eager torch on a GPU "
                   "without a TensorRT plan. Pays off on long runs with large batches (docs/engines.md).")
@click.option("--workers", "-j", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads decoding and preprocessing images while the generator runs.")
@click.option("--decode-memory", type=click.IntRange(64), default=None, metavar="MiB",
              help="Memory all decode threads share for decoding images, in MiB (default 2048): a huge image "
                   "waits for room instead of multiplying memory by --workers; one larger than this fails its row.")
@click.option("--base-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where relative image paths of the manifest start (default: the manifest's folder).")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg", "webp"]), default="png", show_default=True,
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
@click.option("--edit", "-e", "edit", default=None,
              help="With photos instead of a manifest: the edit for every photo (Blond_Hair=1;Young=0, "
                   "Eyeglasses=flip, flip-each).")
@click.option("--source", "source", default=None,
              help="With photos instead of a manifest: their current attributes, as the names that are on "
                   "(Male;Young;Black_Hair) or a 0/1 vector; default: predicted when the checkpoint can.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary (warnings still go to stderr).")
@click.option("--verbose", "-v", is_flag=True, help="Also print the engine's details (files, hashes, versions).")
@photo_options  # --align --face --margin --no-paste --classifier --grid --style-sweep (cli/_photo_options.py)
@scale_options  # --shard --executor --ray-address --num-gpus-per-worker (cli/_scale.py)
def run_command(inputs, out_dir, checkpoint, batch_size, device, backend, engine, engines_dir, precision, compile_,
                workers, decode_memory, base_dir, fmt, conflicts, rules, crop, max_failures, force, edit, source, quiet,
                verbose, **photo):
    """Edit every row of MANIFEST, or every photo in PHOTOS (folders, image files, globs) with
    --edit, and write the images plus report.csv / report.json / report.html into --out.

    \b
    Rows that fail (missing or corrupt image, bad vector, unknown attribute...) are reported with
    the reason; the others proceed. Rerunning the same command resumes: rows whose image, edit
    columns, output name, checkpoint and pixel options are unchanged are kept; the others are redone.
    \b
    Exit codes: 0 all rows ok, 1 some rows failed (or --max-failures hit), 2 usage or setup
    error, 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (in both cases in-flight rows are
    finished and the report is written).
    \b
    Examples:
      attgan-batch run manifests/demo.csv --out edited/ --batch-size 32
      attgan-batch run photos/ --edit "Blond_Hair=1" --source "Young" --out edited/
    """
    from ..errors import AttGANBatchError
    from ..pipeline import (EditOptions, EngineOptions, OutputOptions, PhotoOptions, RunOptions, StopRequest,
                            run_manifest)

    console = stderr_console()
    manifest = _manifest_for(inputs, out_dir, edit, source, checkpoint)
    align, output, classifier, source_from = photo_run_options(photo)
    options = RunOptions(
        out_dir=out_dir, checkpoint=checkpoint, workers=workers, max_failures=max_failures, force=force,
        engine=EngineOptions(backend=backend, device=device, precision=precision, batch_size=batch_size,
                             engine=engine, engines_dir=engines_dir, compile=compile_),
        edit=EditOptions(conflicts=conflicts, rules=rules, crop=crop, classifier=classifier, source_from=source_from),
        output=OutputOptions(fmt=fmt, **output),
        photo=PhotoOptions(align=align, base_dir=base_dir,
                           decode_memory=decode_memory * (1 << 20) if decode_memory else None),
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
        _print_summary(console, summary, verbose)
    elif summary.warnings or summary.aborted:  # e.g. where the report went when --out was not writable
        for warning in summary.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
        if summary.aborted:
            console.print(f"[red]stopped:[/] {escape(summary.aborted)}")
    from . import allow_quick_exit

    allow_quick_exit()  # everything is written and closed: the console script may skip the teardown
    raise SystemExit(summary.exit_code)


def _manifest_for(inputs: tuple[str, ...], out_dir: Path, edit: str | None, source: str | None,
                  checkpoint=None) -> Path:
    """The manifest given, or one written for the photos given (attgan_batch.inputs)."""
    from ..inputs import GENERATED_MANIFEST, collect_photos, is_manifest, photos_manifest

    if is_manifest(inputs):
        if edit is not None or source is not None:
            raise click.UsageError("--edit and --source apply to photos given directly; a manifest has its own "
                                   "edit and source columns")
        return Path(inputs[0])
    from ..atomic import OutputDir
    from ..errors import AttGANBatchError

    try:
        photos = collect_photos(inputs, exclude=out_dir)
        with OutputDir(out_dir) as out:
            out.write(GENERATED_MANIFEST, photos_manifest(photos, edit, source), fsync=False)
    except (AttGANBatchError, OSError) as exc:
        fail(str(exc))
    if edit is None:
        stderr_console().print("[yellow]no --edit given: every photo is reconstructed unchanged[/]")
    _warn_if_demo_on_photos(checkpoint, [photo for photo, _ in photos])
    return Path(out_dir) / GENERATED_MANIFEST


def _warn_if_demo_on_photos(checkpoint, photos: list[Path], sample: int = 32) -> None:
    """Once: the demo model on pictures that are not its 64 px synthetic faces (reads headers only)."""
    from PIL import Image

    from ..defaults import DEMO_NAME, DEMO_PHOTO_WARNING

    if checkpoint not in (None, DEMO_NAME) and str(checkpoint) != DEMO_NAME:
        return
    for photo in photos[:sample]:
        try:
            with Image.open(photo) as img:
                if img.size != (64, 64):
                    stderr_console().print(f"[yellow]warning:[/] {photo.name} is {img.size[0]}x{img.size[1]}: "
                                           f"{DEMO_PHOTO_WARNING}", soft_wrap=True)
                    return
        except OSError:
            continue


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


def _print_summary(console, summary, verbose: bool = False, max_failures_listed: int = 5) -> None:
    """What happened and where, in a few lines; engine internals only with --verbose."""
    data = summary.to_dict()
    c = data["counts"]
    done = f"{c['rows']} rows: {c['ok']} ok, {c['failed']} failed" + (f", {c['skipped']} skipped" if c["skipped"] else "")
    extra = [f"{c['resumed']} kept from an earlier run"] if c["resumed"] else []
    extra += [f"{c['redone']} redone as their inputs changed"] if c["redone"] else []
    rate = data["throughput"]["rows_per_second"]
    console.print(f"[bold]{done}[/]" + (f" ({'; '.join(extra)})" if extra else "")
                  + (f", {rate:g} rows/s over {data['seconds']:g} s" if c["ok"] > c["resumed"] else ""),
                  soft_wrap=True)
    report = Path(summary.report_csv).parent
    console.print(f"  images  {escape(summary.out_dir)}", soft_wrap=True)
    html = report / "report.html"
    console.print(f"  report  {escape(str(html if html.is_file() else summary.report_csv))}"
                  + ("  (report.csv and report.json beside it)" if html.is_file() else ""), soft_wrap=True)
    b = summary.backend
    if verbose:
        console.print("  engine  " + escape(", ".join(f"{k}={v}" for k, v in b.items())), soft_wrap=True)
    elif b:
        console.print(f"  engine  {b.get('backend', b.get('executor', '?'))} on {b.get('device', '?')} "
                      f"({b.get('precision', 'fp32')})", soft_wrap=True)
    for warning in summary.warnings:
        console.print(f"  [yellow]warning[/] {escape(warning)}", soft_wrap=True)
    if summary.aborted:
        console.print(f"  [red]stopped[/] {escape(summary.aborted)}", soft_wrap=True)
    if c["failed"]:
        console.print(f"  [red]failed rows[/] (first {min(c['failed'], max_failures_listed)}; all in the error "
                      f"column of {escape(summary.report_csv)}):", soft_wrap=True)
        for line in _first_failures(summary.report_csv, max_failures_listed):
            console.print(f"    {escape(line)}", soft_wrap=True)


def _first_failures(report_csv: str, n: int) -> list[str]:
    import csv

    out = []
    try:
        with open(report_csv, newline="", encoding="utf-8") as fh:
            for record in csv.DictReader(fh):
                if record.get("status") == "failed":
                    out.append(f"line {record.get('line')} {record.get('id')}: {record.get('error')}")
                    if len(out) >= n:
                        break
    except OSError:
        pass
    return out
