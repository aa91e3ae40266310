"""``run_manifest``: the batch job behind ``attgan-batch run``, from manifest to report.

It checks the manifest, takes the output folder's lock, loads the checkpoint and its engine,
works out which rows earlier runs already finished (:mod:`.resume`), lets the executor process the
rest, and always writes the reports, also after a stop, a failed batch or a full disk.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..atomic import OutputDir, remove_orphan_temps, temp_name
from ..defaults import DEMO_PHOTO_WARNING, default_checkpoint, is_demo
from ..errors import AttGANBatchError
from ..executors import get_executor
from ..html_report import write_html_report
from ..lock import RunLock, refuse_overlapping_runs
from ..manifest import scan_manifest
from ..model import load_checkpoint
from ..report import STATE_DIR, Journal, journal_name, read_journal, state_dir, write_reports
from ..shards import lock_name, report_stem, run_tag
from .context import RunContext
from .options import RunOptions
from .recorder import Recorder
from .resume import ResumeIndex, run_fingerprint
from .summary import RunSummary


def make_backend(options: RunOptions, loaded) -> Any:
    """The inference engine a run with ``options`` uses for ``loaded`` (chosen by its executor:
    locally :func:`attgan_batch.engines.select_backend`; under Ray a stand-in, the engines live in
    the Ray actors)."""
    return get_executor(options.scale.executor).make_backend(options, loaded)


def run_manifest(
    manifest: str | Path,
    options: RunOptions,
    *,
    editor: Any = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
) -> RunSummary:
    """Edit every row of ``manifest`` into ``options.out_dir`` and write the reports.

    A bad row never raises: it is reported (status ``failed``, with the reason) and the others
    proceed. Rerunning into the same folder resumes: rows whose inputs are unchanged are kept.

    Args:
        manifest: a CSV with an ``image`` column and ``edit`` / ``target`` / ``source`` / ...
        options: the run's settings (:class:`RunOptions`).
        editor: an already loaded :class:`attgan_batch.Editor` (default: load ``options.checkpoint``
            and the engine ``options.engine`` asks for).
        stop: set it (e.g. from a signal handler; a :class:`StopRequest` also carries the exit code)
            to end the run cleanly: in-flight rows are finished, the rest reported as skipped.
        on_progress: ``on_progress(done, failed)`` after each row.
        on_start: ``on_start(total_rows)`` once the run starts (None for a shard, whose size is
            known only at the end).

    Returns:
        The :class:`RunSummary`; its ``exit_code`` is what the CLI exits with.

    Raises:
        AttGANBatchError: the manifest is unreadable, ``--out`` is not writable or locked by another
            run, or the checkpoint or engine cannot be loaded (nothing is edited then).
    """
    manifest = Path(manifest)
    executor = get_executor(options.scale.executor)
    stop = stop or threading.Event()
    started = time.perf_counter()
    summary = RunSummary(str(manifest), str(options.out_dir))
    total_rows = scan_manifest(manifest)  # a malformed manifest fails here, before any work
    out = _open_out_dir(options.out_dir)
    shard = options.scale.shard
    try:
        lock = RunLock(state_dir(out.root) / lock_name(shard))
        with lock:
            refuse_overlapping_runs(state_dir(out.root), shard is not None)
            if lock.took_over_from is not None:
                summary.warnings.append(f"took over a stale lock left by a killed run (pid {lock.took_over_from})")
            _run_locked(manifest, options, executor, editor, out, summary, stop, started, on_progress,
                        on_start and (lambda: on_start(total_rows if shard is None else None)))
        if lock.release_error:
            summary.warnings.append(lock.release_error)
    finally:
        out.close()
    return summary


def _run_locked(manifest, options, executor, editor, out, summary, stop, started, on_progress, on_start) -> None:
    if editor is None:
        from ..editor import Editor

        loaded = load_checkpoint(default_checkpoint(options.checkpoint))
        executor.prefetch(manifest, options, loaded, out.root)  # the first rows decode while the engine is made
        editor = Editor(loaded, executor.make_backend(options, loaded), options.edit.conflicts,
                        options.edit.rules, options.edit.crop)
    summary.backend = editor.backend.describe()
    summary.setup_seconds = time.perf_counter() - started
    started = time.perf_counter()  # throughput counts the rows' work, not loading or engine builds
    ck = editor.checkpoint
    summary.checkpoint = {"path": str(ck.weights_path), "sha256": ck.sha256, "attrs": ck.attrs,
                          "img_size": ck.settings.img_size, "notes": ck.notes}
    if is_demo(ck.weights_path) and options.photo.align is not None:
        summary.warnings.append(DEMO_PHOTO_WARNING)
    classifier = ""
    if options.edit.classifier is not None:  # --classifier predicts missing sources instead of D's head
        from ..classifier_source import ClassifierSource

        editor.source_classifier = ClassifierSource.load(options.edit.classifier, editor.attrs)
        summary.checkpoint["classifier"] = editor.source_classifier.describe()
        classifier = str(summary.checkpoint["classifier"].get("sha256", options.edit.classifier))
    from ..recon_source import ReconSource, uses_recon

    if uses_recon(options.edit.source_from, options.edit.classifier, editor):  # missing sources from G alone

        editor.source_classifier = ReconSource(editor)
        summary.checkpoint["source_from"] = "recon"
        classifier = "recon"
    stale = remove_orphan_temps(out.root)
    if stale:
        summary.warnings.append(f"removed {stale} partial file(s) left by an interrupted run")
    tag = run_tag(options.scale.shard)
    if options.force:
        index, keep = ResumeIndex(), []
    else:
        index, keep = ResumeIndex.from_records(read_journal(out.root / journal_name(tag)), out.is_file)
    journal = Journal(out, journal_name(tag), keep=keep)
    recorder = Recorder(journal, summary, on_progress)
    fingerprint = run_fingerprint(
        checkpoint_sha256=ck.sha256, engine=str(summary.backend.get("backend", editor.backend.name)),
        precision=options.engine.precision, conflicts=options.edit.conflicts, rules=options.edit.rules,
        crop=options.edit.crop, align=options.photo.align, grid=options.output.grid,
        style_sweep=options.output.style_sweep, classifier=classifier,
        compose="residual" if options.output.residual(options.photo.align is not None) else "replace")
    ctx = RunContext(manifest, options, editor, out, recorder, index, fingerprint, stop)
    if on_start:
        on_start()
    try:
        executor.run(ctx)
    finally:
        journal.close()
        if journal.error:
            summary.warnings.append(journal.error)
        summary.seconds = time.perf_counter() - started
        write_reports_somewhere(out, summary, journal, report_stem(options.scale.shard))


def write_reports_somewhere(out: OutputDir, summary: RunSummary, journal: Journal, stem: str = "report") -> None:
    """Reports go into ``--out``; if that fails (disk full, read-only...), into a temp folder, and
    the summary says where (the CLI prints it even with ``--quiet``)."""
    try:  # report.html first, so report.json can carry its warning (attgan_batch.html_report)
        if stem == "report":  # a shard's page would overwrite the others'; `report merge` writes it
            write_html_report(out.root, summary.to_dict(), journal.records_in_order())
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; csv/json still get written
        summary.warnings.append(f"report.html could not be written: {type(exc).__name__}: {exc}")
    try:
        csv_path, json_path = write_reports(out, summary.to_dict(), journal.records_in_order(), stem=stem)
    except (OSError, AttGANBatchError) as exc:
        fallback = Path(tempfile.mkdtemp(prefix="attgan-batch-report-"))
        summary.warnings.append(f"could not write the report into {out.root} ({getattr(exc, 'strerror', None) or exc}); "
                                f"wrote it to {fallback} instead")
        summary.aborted = summary.aborted or "the report could not be written into --out"
        with OutputDir(fallback) as elsewhere:
            csv_path, json_path = write_reports(elsewhere, summary.to_dict(), journal.records_in_order(), stem=stem)
    summary.report_csv, summary.report_json = str(csv_path), str(json_path)


def _open_out_dir(out_dir: Path) -> OutputDir:
    try:
        out = OutputDir(out_dir)
    except OSError as exc:
        raise AttGANBatchError(f"cannot write into --out {out_dir}: {exc.strerror or exc}; choose a writable folder") from exc
    try:
        probe = f"{STATE_DIR}/{temp_name()}"  # unique: shards probe the same folder at the same time
        out.write(probe, b"", fsync=False)
        os.unlink(probe, dir_fd=out.fd)
    except (OSError, AttGANBatchError) as exc:
        out.close()
        raise AttGANBatchError(f"cannot write into --out {out_dir}: {getattr(exc, 'strerror', None) or exc}; "
                               "choose a writable folder") from exc
    return out
