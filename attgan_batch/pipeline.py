"""The batch job behind ``attgan-batch run``: stream a manifest, edit, write images and a report.

Work overlaps in three places: a thread pool decodes and preprocesses upcoming rows, the generator
runs batches in its own thread(s) (one per lane the backend offers: OpenVINO streams; the last
rows go in smaller parts so the lanes finish together), and a writer thread encodes and saves
finished outputs. Rows are read in chunks and at most ``window`` of them are in flight, so memory
does not grow with the manifest. Each finished row goes to the journal at once (see
:mod:`attgan_batch.report`), which is what makes reruns resume and reports survive crashes.
"""
from __future__ import annotations

import queue
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from . import __version__
from .attributes import EditPlan, format_vector
from .data.images import DEFAULT_MAX_PIXELS, load_rgb, preprocess, save_atomic, to_uint8
from .defaults import default_checkpoint
from .editor import Editor
from .engines import TorchBackend
from .errors import AttGANBatchError, RowError
from .lock import RunLock
from .manifest import ManifestReader, ManifestRow, RowFailure, confined_output, scan_manifest
from .model import load_checkpoint
from .html_report import write_html_report
from .render import grid_image
from .shards import Shard, lock_name, report_stem, run_tag, select as shard_rows
from .thumbnails import write_thumbnails
from .report import Journal, finished_rows, journal_path, remove_stale_temp_files, state_dir, write_reports


@dataclass
class RunOptions:
    out_dir: Path
    checkpoint: Path | None = None
    batch_size: int = 16
    device: str = "auto"
    workers: int = 2
    fmt: str = "png"
    max_failures: int | None = None
    conflicts: str = "resolve"
    rules: str = "reference"
    crop: str = "auto"
    backend: str = "auto"
    engine: Path | None = None
    engines_dir: Path = Path("engines")
    precision: str = "fp32"
    compile: bool = False  # torch backend through torch.compile (--compile; engines/torch_backend.py)
    force: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    align: Any = None  # an align.AlignOptions: detect faces, edit aligned crops, paste back (--align)
    grid: bool = False  # write <output stem>.grid.png per row: input, reconstruction, edit(s) (--grid)
    style_sweep: str | None = None  # style model: add a row of style codes for this attribute to the grid
    classifier: Path | None = None  # predict missing sources with this standalone classifier (--classifier)
    log: Callable[[str], Any] | None = None  # backend selection notes; default: stderr
    shard: Shard | None = None  # run only shard K of N; own lock, journal, report.K-of-N.* (--shard, shards.py)
    executor: str = "local"  # "ray": rows spread over a Ray cluster (--executor, executors/ray_executor.py)
    ray_address: str | None = None  # --ray-address: auto, HOST:PORT; None starts a local Ray
    num_gpus_per_worker: float = 0.0  # --num-gpus-per-worker (ray: --workers is the number of engines)


@dataclass
class RunSummary:
    manifest: str
    out_dir: str
    rows: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    resumed: int = 0
    images_written: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    interrupted: bool = False
    aborted: str = ""
    warnings: list[str] = field(default_factory=list)
    backend: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    report_csv: str = ""
    report_json: str = ""

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if (self.failed or self.aborted) else 0

    def to_dict(self) -> dict[str, Any]:
        done = self.ok - self.resumed
        return {
            "manifest": self.manifest, "out_dir": self.out_dir,
            "counts": {"rows": self.rows, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                       "resumed": self.resumed},
            "exit_code": self.exit_code, "interrupted": self.interrupted, "aborted": self.aborted,
            "seconds": round(self.seconds, 3), "setup_seconds": round(self.setup_seconds, 3),
            "throughput": {"rows_per_second": round(done / self.seconds, 3) if self.seconds else 0.0,
                           "images_per_second": round(self.images_written / self.seconds, 3) if self.seconds else 0.0},
            "backend": self.backend, "checkpoint": self.checkpoint, "warnings": self.warnings,
            "versions": {"attgan_batch": __version__, "torch": torch.__version__},
        }


class _Row:
    """A row in flight: its decoded tensor, its plans and, as batches finish, its outputs."""

    def __init__(self, row: ManifestRow, x: torch.Tensor, started: float):
        self.row, self.x, self.started = row, x, started
        self.plans: list[EditPlan] = []
        self.outputs: list[torch.Tensor | None] = []
        self.predicted = ""
        self.remaining = 0
        self.failed = False
        self.inputs: list[torch.Tensor] | None = None  # per plan, when row hooks set it (several faces)
        self.extra: Any = None  # what row hooks keep for the writer (attgan_batch.row_hooks)


def _decode(row: ManifestRow, img_size: int, crop: str, max_pixels: int, align: Any = None) -> torch.Tensor:
    if align is not None:  # --align: an AlignedPhoto (faces found and aligned), see attgan_batch.align
        from .align import decode_aligned
        return decode_aligned(row.image, img_size, align, max_pixels)
    return preprocess(load_rgb(row.image, max_pixels), img_size, crop)


def make_backend(options: RunOptions, loaded) -> Any:
    """The backend ``options.backend`` names (engines.select when available, else eager torch)."""
    if options.executor == "ray":  # the engines live in the Ray actors; this one only describes them
        from .executors.ray_executor import RemoteBackend
        return RemoteBackend(options)
    try:
        from .engines.select import select_backend
    except ImportError:
        if options.backend not in ("auto", "torch"):
            raise AttGANBatchError(f"backend {options.backend!r} is not available in this install; use --backend torch")
        return TorchBackend(loaded.generator, options.device)
    return select_backend(options.backend, loaded, device=options.device, engine=options.engine,
                          engines_dir=options.engines_dir, precision=options.precision,
                          batch_size=options.batch_size, log=options.log or _log_to_stderr, compile=options.compile)


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run_manifest(
    manifest: str | Path,
    options: RunOptions,
    *,
    editor: Editor | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
) -> RunSummary:
    """Run every row of ``manifest`` into ``options.out_dir``; never raises for a bad row.

    ``stop`` (e.g. set by a SIGINT handler) ends the run cleanly: in-flight rows are finished and
    written, the rest are reported as skipped. ``on_progress(done, failed)`` is called per row.
    """
    manifest = Path(manifest)
    out_dir = Path(options.out_dir)
    stop = stop or threading.Event()
    started = time.perf_counter()
    summary = RunSummary(str(manifest), str(out_dir))
    total_rows = scan_manifest(manifest)  # a malformed manifest fails here, before any work

    _prepare_out_dir(out_dir)
    with RunLock(state_dir(out_dir) / lock_name(options.shard)) as lock:
        if lock.took_over_from is not None:
            summary.warnings.append(f"took over a stale lock left by a killed run (pid {lock.took_over_from})")
        if editor is None:
            loaded = load_checkpoint(default_checkpoint(options.checkpoint))
            editor = Editor(loaded, make_backend(options, loaded), options.conflicts, options.rules, options.crop)
        summary.backend = editor.backend.describe()
        summary.setup_seconds = time.perf_counter() - started
        started = time.perf_counter()  # throughput counts the rows' work, not loading or engine builds
        ck = editor.checkpoint
        summary.checkpoint = {"path": str(ck.weights_path), "sha256": ck.sha256, "attrs": ck.attrs,
                              "img_size": ck.settings.img_size, "notes": ck.notes}
        if options.classifier is not None:  # --classifier predicts missing sources instead of D's head
            from .classifier_source import ClassifierSource
            editor.source_classifier = ClassifierSource.load(options.classifier, editor.attrs)
            summary.checkpoint["classifier"] = editor.source_classifier.describe()
        # shards share --out: one shard's cleanup could delete another's in-flight file (report merge cleans up)
        stale = remove_stale_temp_files(out_dir) if options.shard is None else 0
        if stale:
            summary.warnings.append(f"removed {stale} partial file(s) left by an interrupted run")
        done = {} if options.force else finished_rows(out_dir, run_tag(options.shard))
        journal = Journal(journal_path(out_dir, run_tag(options.shard)), keep=list(done.values()))
        if on_start:
            on_start(total_rows if options.shard is None else None)  # a shard's size is known only at the end
        if options.executor == "ray":
            from .executors.ray_executor import RayRunner as runner_class
        else:
            runner_class = _Runner
        try:
            runner_class(editor, options, out_dir, journal, summary, stop, on_progress, done).run(manifest)
        finally:
            journal.close()
            if journal.error:
                summary.warnings.append(journal.error)
            summary.seconds = time.perf_counter() - started
            _write_reports_somewhere(out_dir, summary, journal, report_stem(options.shard))
    return summary


def _write_reports_somewhere(out_dir: Path, summary: RunSummary, journal: Journal, stem: str = "report") -> None:
    """Reports go into --out; if that fails (disk full...), into a temp folder, and the run says so."""
    try:  # report.html first, so report.json can carry its warning (attgan_batch.html_report)
        if stem == "report":  # a shard's page would overwrite the others'; `report merge` writes it
            write_html_report(out_dir, summary.to_dict(), journal.records())
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; csv/json still get written
        summary.warnings.append(f"report.html could not be written: {type(exc).__name__}: {exc}")
    try:
        csv_path, json_path = write_reports(out_dir, summary.to_dict(), journal.records(), stem=stem)
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="attgan-batch-report-"))
        summary.warnings.append(f"could not write the report into {out_dir} ({exc.strerror or exc}); "
                                f"wrote it to {fallback} instead")
        summary.aborted = summary.aborted or "the report could not be written into --out"
        csv_path, json_path = write_reports(fallback, summary.to_dict(), journal.records(), stem=stem)
    summary.report_csv, summary.report_json = str(csv_path), str(json_path)


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{id(out_dir)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise AttGANBatchError(f"cannot write into --out {out_dir}: {exc.strerror or exc}; choose a writable folder") from exc


class _Runner:
    """One run's moving parts; split from run_manifest so each step reads on its own."""

    def __init__(self, editor: Editor, options: RunOptions, out_dir: Path, journal: Journal,
                 summary: RunSummary, stop: threading.Event, on_progress, done: dict[str, dict]):
        self.editor, self.options, self.out_dir = editor, options, out_dir
        self.journal, self.summary, self.stop = journal, summary, stop
        self.on_progress = on_progress
        self.done = done
        self.batch: list[tuple[_Row, int]] = []
        self.writes: queue.Queue = queue.Queue(maxsize=4 * max(options.batch_size, 8))
        # generator calls run in their own threads, so the next batch is decoded and planned while
        # this one runs; `concurrency` batches at once where the backend has parallel lanes (OpenVINO)
        self.concurrency = max(1, int(getattr(editor.backend, "concurrency", 1)))
        self.inference: ThreadPoolExecutor | None = None
        self.in_flight: deque[Future] = deque()
        self.ending = False  # the manifest is read to its end: the last batches are split over the lanes
        self.lock = threading.Lock()
        self.hooks = None  # --align / --grid: per-face plans, pasted outputs, grids (attgan_batch.row_hooks)
        if options.align is not None or options.grid or options.style_sweep:
            from .row_hooks import RowHooks
            self.hooks = RowHooks(editor, options.align, options.grid or bool(options.style_sweep), options.style_sweep)

    # ------------------------------------------------------------------ main loop
    def run(self, manifest: Path) -> None:
        reader = ManifestReader(manifest, self.editor.attrs, self.out_dir, self.options.fmt, scanned=True)
        writer = threading.Thread(target=self._writer, name="attgan-writer", daemon=True)
        writer.start()
        window = max(2 * self.options.batch_size, 4 * self.options.workers, 8)
        pending: deque[tuple[ManifestRow | RowFailure, Future | None, float]] = deque()
        size, crop, max_pixels = self.editor.img_size, self.options.crop, self.options.max_pixels
        try:
            with ThreadPoolExecutor(max(self.options.workers, 1), thread_name_prefix="attgan-decode") as pool:
                rows = iter(shard_rows(reader, self.options.shard))  # --shard K/N: only this shard's rows
                for item in rows:
                    if self._should_stop():
                        self._skip(item)
                        break
                    if isinstance(item, ManifestRow):
                        if item.id in self.done:
                            self._count_resumed(item)
                            continue
                        future = pool.submit(_decode, item, size, crop, max_pixels, self.options.align)
                        pending.append((item, future, time.perf_counter()))
                    else:
                        pending.append((item, None, time.perf_counter()))
                    while len(pending) >= window:
                        self._take(pending.popleft())
                self.ending = True
                while pending:
                    self._take(pending.popleft())
                self._flush()
                self.drain()
                for item in rows:  # only after a stop: the rest is reported, not run
                    self._skip(item)
        finally:
            self.drain(shutdown=True, raise_errors=False)  # never leave a batch unwritten
            self.summary.warnings.extend(reader.warnings)
            self.writes.put(None)
            writer.join()

    def _should_stop(self) -> bool:
        if self.stop.is_set():
            self.summary.interrupted = True
            return True
        limit = self.options.max_failures
        if limit is not None and self.summary.failed > limit and not self.summary.aborted:
            self.summary.aborted = f"stopped after more than {limit} failed rows (--max-failures)"
        return bool(self.summary.aborted)

    def _take(self, entry: tuple[ManifestRow | RowFailure, Future | None, float]) -> None:
        item, future, t0 = entry
        if isinstance(item, RowFailure):
            self._fail(item.line, item.id, item.image, item.error, output=item.output, started=t0)
            return
        if self._should_stop():
            future.cancel()
            self._skip(item)
            return
        try:
            state = _Row(item, future.result(), t0)
            self._plan(state)
        except RowError as exc:
            self._fail(item.line, item.id, str(item.image), str(exc), output=item.output, started=t0, row=item)
            return
        except Exception as exc:  # a bug or an unforeseen file problem: fail the row, keep the batch
            self._fail(item.line, item.id, str(item.image), f"unexpected error: {type(exc).__name__}: {exc}",
                       output=item.output, started=t0, row=item)
            return
        state.outputs = [None] * len(state.plans)
        state.remaining = len(state.plans)
        for i in range(len(state.plans)):
            self.batch.append((state, i))
            if len(self.batch) >= self.options.batch_size:
                self._flush()

    def _plan(self, state: _Row) -> None:
        if self.hooks is not None:
            return self.hooks.plan(state)
        row = state.row
        source = row.source
        if source is None and row.target is None:
            prediction = self.editor.predict_source(state.x[None])[0]
            source = prediction.labels
            state.predicted = ";".join(f"{n}={v}:{c:.2f}" for n, v, c in
                                       zip(self.editor.attrs, prediction.labels, prediction.confidences))
        state.plans = self.editor.plans(edit=row.edit, target=row.target, source=source, intensity=row.intensity,
                                        style=row.style)

    def _flush(self) -> None:
        """Send the collected batch to the generator (in an inference thread) and return at once;
        with `concurrency` batches running and one more waiting, first wait for the oldest."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        if self.inference is None:
            self.inference = ThreadPoolExecutor(self.concurrency, thread_name_prefix="attgan-generate")
        for part in self._lane_parts(batch):
            # numpy, not torch.stack: no intra-op threads woken on the cores the engine is using
            x = torch.from_numpy(np.stack([(state.x if state.inputs is None else state.inputs[i]).numpy()
                                           for state, i in part]))
            a, style = self.editor.inputs([state.plans[i] for state, i in part])
            self.in_flight.append(self.inference.submit(self._generate, part, x, a, style))
            while len(self.in_flight) > self.concurrency + 1:  # one more waits, ready for the first free lane
                self.in_flight.popleft().result()

    def _lane_parts(self, batch: list[tuple[_Row, int]]) -> list[list[tuple[_Row, int]]]:
        """The batch as it goes to the generator: whole, except in the last rows of the manifest,
        where it is cut into two small parts per lane. Otherwise the run ends with one lane still
        busy on a whole batch while the others have nothing left to do."""
        if not self.ending or self.concurrency < 2:
            return [batch]
        size = -(-len(batch) // (2 * self.concurrency))
        return [batch[i:i + size] for i in range(0, len(batch), size)]

    def drain(self, shutdown: bool = False, raise_errors: bool = True) -> None:
        """Wait until every batch sent to the generator is done and its rows are queued for writing."""
        while self.in_flight:
            future = self.in_flight.popleft()
            try:
                future.result()
            except Exception:
                if raise_errors:
                    raise
        if shutdown and self.inference is not None:
            self.inference.shutdown(wait=True)
            self.inference = None

    def _generate(self, batch: list[tuple[_Row, int]], x: torch.Tensor, a: torch.Tensor,
                  style: torch.Tensor | None) -> None:
        try:
            y = self.editor.generate(x, a, style)
        except Exception as exc:  # the engine failed on this batch: fail its rows, go on
            for state in {id(s): s for s, _ in batch}.values():
                with self.lock:
                    if state.failed:
                        continue
                    state.failed = True
                self._fail(state.row.line, state.row.id, str(state.row.image),
                           f"generator failed on this batch: {type(exc).__name__}: {exc}", output=state.row.output,
                           started=state.started, row=state.row)
            return
        for (state, i), out in zip(batch, y):
            with self.lock:  # a grid row's images may finish in two batches on two threads
                if state.failed:
                    continue
                state.outputs[i] = out
                state.remaining -= 1
                complete = state.remaining == 0
            if complete:
                self.writes.put(state)

    # ------------------------------------------------------------------ results
    def _writer(self) -> None:
        while True:
            item = self.writes.get()
            if item is None:
                return
            try:
                if isinstance(item, dict):
                    self._record(item)
                else:
                    self._write(item)
            except Exception as exc:  # never let the writer die: the main thread would block forever
                row = getattr(item, "row", None)
                self.summary.warnings.append(f"writer error: {type(exc).__name__}: {exc}")
                if row is not None:
                    self._record(self._base(row.line, row.id, str(row.image), row.output, item.started, row)
                                 | {"status": "failed", "error": f"unexpected error writing: {exc}"})

    def _write(self, state: _Row) -> None:
        row = state.row
        try:
            path = confined_output(self.out_dir, row.output)
            if self.hooks is not None:  # --align: the photo with its faces pasted back; --grid: + contact sheet
                image = self.hooks.compose(state, path)
            elif len(state.plans) == 1:
                image = Image.fromarray(to_uint8(state.outputs[0]))
            else:
                image = grid_image(state.x, torch.stack(state.outputs), [p.label for p in state.plans])
            save_atomic(image, path, row.fmt)
            write_thumbnails(self.out_dir, state, image)  # for report.html; never fails the row
        except (OSError, RowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self._record(self._base(row.line, row.id, str(row.image), row.output, state.started, row)
                         | {"status": "failed", "error": f"cannot write output {row.output}: {reason}"})
            return
        plan = state.plans[-1] if len(state.plans) == 1 else None
        record = self._base(row.line, row.id, str(row.image), row.output, state.started, row) | {
            "status": "ok",
            "source": format_vector(state.plans[0].source) if state.plans[0].source is not None else "",
            "source_predicted": state.predicted,
        }
        if plan is not None:
            record |= {"target": format_vector(plan.target), "applied": format_vector(plan.scaled),
                       "style": self.editor.format_style(plan.style),
                       "edited": ";".join(plan.edited), "conflicts": "; ".join(plan.conflict_changes)}
        else:
            record |= {"edited": "flip-each", "applied": f"{len(state.plans)} images in a grid",
                       "conflicts": " | ".join(f"{p.label}: {'; '.join(p.conflict_changes)}"
                                               for p in state.plans if p.conflict_changes)}
        if self.hooks is not None:
            record |= self.hooks.record(state, path)
        with self.lock:
            self.summary.images_written += len(state.plans)
        self._record(record)

    def _base(self, line: int, row_id: str, image: str, output: str, started: float,
              row: ManifestRow | None = None) -> dict[str, Any]:
        return {"line": line, "id": row_id, "input": image, "output": output,
                "edit": row.edit_text if row else "", "error": "",
                "seconds": round(time.perf_counter() - started, 4)}

    def _fail(self, line, row_id, image, error, *, output="", started=None, row=None) -> None:
        record = self._base(line, row_id, image, output, started or time.perf_counter(), row)
        record |= {"status": "failed", "error": error}
        if row is not None and row.source is not None:
            record["source"] = format_vector(row.source)
        self.writes.put(record)

    def _skip(self, item: ManifestRow | RowFailure) -> None:
        reason = "interrupted before this row ran" if self.summary.interrupted else self.summary.aborted
        image = str(item.image)
        record = self._base(item.line, item.id, image, item.output, time.perf_counter(),
                            item if isinstance(item, ManifestRow) else None)
        self.writes.put(record | {"status": "skipped", "error": f"not run: {reason}"})

    def _count_resumed(self, row: ManifestRow) -> None:
        with self.lock:
            self.summary.rows += 1
            self.summary.ok += 1
            self.summary.resumed += 1
        if self.on_progress:
            self.on_progress(self.summary.ok + self.summary.failed + self.summary.skipped, self.summary.failed)

    def _record(self, record: dict[str, Any]) -> None:
        self.journal.record(record)
        with self.lock:
            self.summary.rows += 1
            status = record["status"]
            if status == "ok":
                self.summary.ok += 1
            elif status == "failed":
                self.summary.failed += 1
            else:
                self.summary.skipped += 1
        if self.on_progress:
            self.on_progress(self.summary.ok + self.summary.failed + self.summary.skipped, self.summary.failed)
