"""``run --executor ray``: the local row pipeline, spread over a Ray cluster with Ray Data.

The manifest becomes a Ray Dataset and never passes whole through the driver:

``read``    one task streams the manifest through the pipeline's reader (the same validation,
            duplicate checks, ``--shard`` filter and resume fingerprints as the local executor;
            they are sequential by nature) and emits blocks of a few dozen rows;
``decode``  stateless tasks decode and preprocess the images (:func:`attgan_batch.pipeline.rows.decode`);
``edit``    a fixed pool of actors (``ActorPoolStrategy(size=--workers)``, ``--num-gpus-per-worker``
            GPUs each) with one engine each. Every actor runs the pipeline's public parts on its
            Ray batches (:class:`RowPlanner`, :class:`Scheduler`, :class:`OutputWriter`), so planning,
            batching, image writing (atomic, confined to ``--out``) and the row records are the
            local executor's own code, not a copy;
driver      feeds the stream of small per-row records to the run's :class:`Recorder`: the same
            journal, report.csv and report.json, and the same resume on a rerun.

On a CPU-only cluster Ray Data fuses ``decode`` into the actors (same resources), which is fine:
there is no GPU to keep busy. Needs Ray >= 2.51 (``pip install 'attgan-batch[ray]'``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import re
import socket
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import shards
from ..atomic import OutputDir
from ..errors import AttGANBatchError
from ..manifest import ManifestRow, RowFailure
from ..pipeline.context import RunContext, manifest_reader
from ..pipeline.recorder import Recorder
from ..pipeline.resume import ResumeIndex, row_fingerprint
from ..pipeline.rows import RowPlanner, decode
from ..pipeline.scheduler import Pending, Scheduler
from ..pipeline.summary import RunSummary
from ..pipeline.writer import OutputWriter

# ---------------------------------------------------------------------------------------------
# what flows through the dataset besides rows


@dataclass
class Resumed:
    """A row an earlier run finished: counted by the driver, not run again."""

    line: int
    id: str


@dataclass
class Planned:
    """A row to run, with its resume fingerprint and, when an earlier result is redone, why."""

    row: ManifestRow
    fingerprint: dict
    note: str = ""


@dataclass
class Note:
    """A file-level warning from the reader (e.g. unknown columns) for report.json."""

    text: str


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise AttGANBatchError(
            f"--executor ray needs Ray Data ({exc}); install it with: pip install 'attgan-batch[ray]' "
            "(or pip install 'ray[data]>=2.51'), or use --executor local / --shard K/N"
        ) from None
    return ray


class RemoteBackend:
    """Stands in for the engine in the driver: the engines live in the Ray actors."""

    name = "ray"
    concurrency = 1

    def __init__(self, options):
        self.options = options

    def infer(self, images, attrs, style=None):
        raise AttGANBatchError("the Ray executor runs the generator in its actors, not in the driver")

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {"executor": "ray", "backend": o.engine.backend, "device": o.engine.device,
                "precision": o.engine.precision, "workers": o.workers,
                "num_gpus_per_worker": o.scale.num_gpus_per_worker, "ray_address": o.scale.ray_address or "local"}


# ---------------------------------------------------------------------------------------------
# resources


@dataclass(frozen=True)
class Resources:
    read_cpus: float    # the one reader task; 1 so it fuses with the block-size repartition
    decode_cpus: float
    worker_cpus: float
    worker_gpus: float


def plan_resources(cluster_cpus: float, cluster_gpus: float, workers: int, gpus_per_worker: float) -> Resources:
    """Logical CPUs per stage such that reader, decoders and the actor pool can all run at once
    (Ray Data would otherwise wait forever for a CPU that an idle actor holds)."""
    if workers < 1:
        raise AttGANBatchError("--workers must be at least 1")
    if cluster_cpus < 2:
        raise AttGANBatchError(f"the Ray executor needs at least 2 CPUs in the cluster (one streams the "
                               f"manifest); this cluster has {cluster_cpus:g}")
    if gpus_per_worker > 0 and cluster_gpus < workers * gpus_per_worker:
        raise AttGANBatchError(
            f"--workers {workers} x --num-gpus-per-worker {gpus_per_worker:g} needs {workers * gpus_per_worker:g} "
            f"GPUs but the Ray cluster has {cluster_gpus:g}; lower --workers or add GPU nodes")
    spare = cluster_cpus - 1
    if gpus_per_worker > 0:  # decode runs in its own CPU tasks beside the GPU actors
        worker = min(1.0, spare / (workers + 1))
        return Resources(1.0, worker, worker, gpus_per_worker)
    per = spare / workers  # CPU only: decode fuses into the actors (same resources)
    per = float(int(per)) if per >= 1 else round(per, 3)
    return Resources(1.0, per, per, 0.0)


# ---------------------------------------------------------------------------------------------
# stage functions (run in Ray workers)


def _enter(cwd: str) -> None:
    """Resolve relative manifest paths as the driver does (same folder on a local cluster)."""
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)


def read_rows(batch, *, manifest: str, attrs: list[str], out_dir: str, output, base_dir, shard, resume: ResumeIndex,
              run_fingerprint: dict, force: bool, rows_per_block: int, cwd: str) -> Iterator[dict[str, np.ndarray]]:
    """The reader task: this shard's manifest items, pickled, in blocks of ``rows_per_block``."""
    _enter(cwd)
    reader = manifest_reader(Path(manifest), attrs, Path(out_dir), output, base_dir)
    block: list[bytes] = []
    for item in shards.select(reader, shard):
        if isinstance(item, ManifestRow):
            fingerprint = row_fingerprint(item, run_fingerprint)
            decision = None if force else resume.decide(item, fingerprint)
            if decision is not None and decision.resume:
                item = Resumed(item.line, item.id)
            else:
                item = Planned(item, fingerprint, decision.reason if decision else "")
        block.append(pickle.dumps(item))
        if len(block) >= rows_per_block:
            yield {"item": np.array(block, dtype=object)}
            block = []
    block.extend(pickle.dumps(Note(w)) for w in reader.warnings)
    if block:
        yield {"item": np.array(block, dtype=object)}


def decode_rows(batch, *, img_size: int, crop: str, max_pixels: int, align: Any, cwd: str) -> dict[str, np.ndarray]:
    """Decode and preprocess each row's image; the result (or the exception) rides with the row."""
    _enter(cwd)
    out = []
    for blob in batch["item"]:
        item = pickle.loads(blob)
        result: tuple[str, Any] | None = None
        if isinstance(item, Planned):
            try:
                result = ("ok", decode(item.row, img_size, crop, max_pixels, align))
            except Exception as exc:  # reported by the actor exactly as the local executor does
                result = ("error", _picklable(exc))
        out.append(pickle.dumps((item, result)))
    return {"item": np.array(out, dtype=object)}


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _Collector:
    """The actor's stand-in journal: the records of one batch, returned to the driver."""

    def __init__(self):
        self.records: list[dict[str, Any]] = []

    def record(self, record: dict[str, Any]) -> None:
        self.records.append(record)


class EditWorker:
    """One Ray actor: loads the checkpoint and one engine, then edits and writes each batch."""

    def __init__(self, options, sha256: str, cwd: str, threads: int):
        import torch

        from ..defaults import default_checkpoint
        from ..editor import Editor
        from ..engines.select import select_backend
        from ..model import load_checkpoint

        _enter(cwd)
        if threads:
            torch.set_num_threads(threads)
        loaded = load_checkpoint(default_checkpoint(options.checkpoint))
        if loaded.sha256 != sha256:
            raise AttGANBatchError(
                f"the checkpoint {loaded.weights_path} on {socket.gethostname()} differs from the driver's "
                f"(sha256 {loaded.sha256[:12]} vs {sha256[:12]}); every node must see the same file")
        notes: list[str] = []
        e = options.edit
        self.editor = Editor(loaded, select_backend(loaded, options.engine, log=notes.append), e.conflicts,
                             e.rules, e.crop)
        if e.classifier is not None:  # as run_manifest does for --classifier
            from ..classifier_source import ClassifierSource
            self.editor.source_classifier = ClassifierSource.load(e.classifier, self.editor.attrs)
        from ..recon_source import ReconSource, uses_recon

        if uses_recon(e.source_from, e.classifier, self.editor):  # as run_manifest does for G-only weights
            self.editor.source_classifier = ReconSource(self.editor)
        self.options = options
        self.out = OutputDir(options.out_dir)
        self.residual = options.output.residual(options.photo.align is not None)
        self.planner = RowPlanner(self.editor, grid=options.output.grid, style_sweep=options.output.style_sweep,
                                  residual=self.residual)
        self.worker = {"host": socket.gethostname(), "pid": os.getpid(), **self.editor.backend.describe(),
                       "notes": notes}  # why this engine (e.g. "auto: not using TensorRT: ...")
        self.announced = False

    def __call__(self, batch) -> dict[str, np.ndarray]:
        o, events, redone = self.options, [], 0
        collector = _Collector()
        summary = RunSummary("", str(o.out_dir))
        recorder = Recorder(collector, summary)
        writer = OutputWriter(self.out, self.editor, recorder, grid=o.output.writes_grid, align=o.photo.align,
                              residual=self.residual)
        scheduler = Scheduler(self.editor, self.planner, batch_size=o.engine.batch_size, on_done=writer.put,
                              on_failed=recorder.fail)
        try:
            for blob in batch["item"]:
                item, result = pickle.loads(blob)
                if isinstance(item, Resumed):
                    events.append({"kind": "resumed", "line": item.line, "id": item.id})
                elif isinstance(item, Note):
                    events.append({"kind": "note", "text": item.text})
                elif isinstance(item, RowFailure):
                    scheduler.take(Pending(item, None))
                else:
                    future: Future = Future()
                    status, value = result
                    if status == "ok":
                        future.set_result(value)
                    else:
                        future.set_exception(value)
                    scheduler.take(Pending(item.row, future, fingerprint=item.fingerprint, note=item.note))
                    redone += bool(item.note)
            scheduler.flush()
            scheduler.drain()
        finally:
            scheduler.close()  # every batch sent to the generator is written before the writer stops
            writer.close()
        events.extend({"kind": "row", "record": r} for r in collector.records)
        events.append({"kind": "images", "n": summary.images_written})
        events.append({"kind": "redone", "n": redone})
        if not self.announced:
            self.announced = True
            events.append({"kind": "worker", "worker": self.worker})
        return {"event": np.array([json.dumps(e) for e in events], dtype=object)}


# ---------------------------------------------------------------------------------------------
# the driver


@contextlib.contextmanager
def ray_session(address: str | None):
    """Connect to ``address`` (``auto``, ``HOST:PORT``) or start a local Ray; reuse an initialised one."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise AttGANBatchError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: "
                                   f"{exc}") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _quiet_ray_data(ray):
    """No Ray progress bars or execution banners over the CLI's own progress bar."""
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.print_on_execution_start)
    logger = logging.getLogger("ray.data")
    level = logger.level
    progress_logger = logging.getLogger("ray.data._internal.progress")  # "progress bars disabled" notice
    progress_level = progress_logger.level
    ctx.enable_progress_bars, ctx.print_on_execution_start = False, False
    logger.setLevel(logging.WARNING)
    progress_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data.*")
            yield
    finally:
        ctx.enable_progress_bars, ctx.print_on_execution_start = saved
        logger.setLevel(level)
        progress_logger.setLevel(progress_level)


def _ray_error_message(exc: BaseException) -> str:
    """Our own error's message when a worker raised one (an engine that cannot run there...), else
    the last ``Type: message`` line of the Ray error (which carries remote tracebacks)."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, AttGANBatchError):
            return f"{type(e).__name__}: {e}"
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*: ", line):
            return line
    return lines[-1] if lines else type(exc).__name__


class RayExecutor:
    """``--executor ray``: the driver's side. Rows run in the actors; their records come back as
    events and go through the run's recorder, like the local executor's."""

    def make_backend(self, options, loaded):
        return RemoteBackend(options)

    def prefetch(self, manifest, options, loaded, out_root) -> None:
        """Nothing to start here: rows are decoded in the actors, next to their engines."""

    def run(self, ctx: RunContext) -> None:
        self.ctx, self.started = ctx, time.perf_counter()
        self.seen = bytearray()
        self.workers_seen: dict[str, dict] = {}
        summary = ctx.summary
        failure = ""
        try:
            try:
                self._stream()
            except AttGANBatchError as exc:
                failure = str(exc)
            except Exception as exc:  # a Ray or worker failure: report the rest as skipped
                failure = f"the Ray executor failed: {_ray_error_message(exc)}"
            if failure and not summary.aborted:
                summary.aborted = failure
            if summary.interrupted or summary.aborted:
                self._skip_unreported()
        finally:
            if self.workers_seen:
                summary.backend["workers_seen"] = list(self.workers_seen.values())
        if failure:
            raise AttGANBatchError(failure)

    def _stream(self) -> None:
        ctx, o = self.ctx, self.ctx.options
        with ray_session(o.scale.ray_address) as ray, _quiet_ray_data(ray):
            cluster = ray.cluster_resources()
            res = plan_resources(cluster.get("CPU", 0), cluster.get("GPU", 0), o.workers,
                                 o.scale.num_gpus_per_worker)
            ctx.summary.backend["ray_resources"] = dataclasses.asdict(res)
            it = iter(self._dataset(ray, res).iter_batches(batch_size=None, batch_format="numpy"))
            try:
                for batch in it:
                    if "ray_startup_seconds" not in ctx.summary.backend:  # cluster, actors, first batch
                        ctx.summary.backend["ray_startup_seconds"] = round(time.perf_counter() - self.started, 3)
                    for text in batch["event"]:
                        self._dispatch(json.loads(text))
                    if ctx.should_stop():
                        break
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

    def _dataset(self, ray, res: Resources):
        ctx, cwd = self.ctx, os.getcwd()
        o = ctx.options
        batch = o.engine.batch_size
        read = dict(manifest=str(ctx.manifest), attrs=list(ctx.editor.attrs), out_dir=str(ctx.out.root),
                    output=o.output, base_dir=o.photo.base_dir and Path(o.photo.base_dir).resolve(), shard=o.scale.shard, resume=ctx.resume, run_fingerprint=ctx.run_fingerprint,
                    force=o.force, rows_per_block=max(16, batch), cwd=cwd)
        decode_args = dict(img_size=ctx.editor.img_size, crop=o.edit.crop, max_pixels=o.photo.max_pixels,
                           align=o.photo.align, cwd=cwd)
        worker = dict(options=_absolute_paths(o), sha256=ctx.editor.checkpoint.sha256, cwd=cwd,
                      threads=int(res.worker_cpus) if res.worker_gpus == 0 else 0)
        return (ray.data.from_items([{"manifest": str(ctx.manifest)}])
                .map_batches(read_rows, batch_size=None, fn_kwargs=read, num_cpus=res.read_cpus)
                .repartition(target_num_rows_per_block=max(16, batch))
                .map_batches(decode_rows, batch_size=batch, fn_kwargs=decode_args, num_cpus=res.decode_cpus)
                .map_batches(EditWorker, batch_size=batch, fn_constructor_kwargs=worker,
                             compute=ray.data.ActorPoolStrategy(size=o.workers), num_cpus=res.worker_cpus,
                             num_gpus=res.worker_gpus or None))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind, recorder = event["kind"], self.ctx.recorder
        if kind == "row":
            self._mark(event["record"]["line"])
            recorder.add_raw(event["record"])
        elif kind == "resumed":
            self._mark(event["line"])
            recorder.resumed(self.ctx.resume.record(event["id"]))
        elif kind == "images":
            recorder.count_images(event["n"])
        elif kind == "redone":
            self.ctx.summary.redone += event["n"]
        elif kind == "note":
            self.ctx.summary.warnings.append(event["text"])
        elif kind == "worker":
            w = event["worker"]
            self.workers_seen[f"{w['host']}:{w['pid']}"] = w

    def _mark(self, line: int) -> None:
        if line >= len(self.seen):
            self.seen.extend(bytes(line + 1024 - len(self.seen)))
        self.seen[line] = 1

    def _skip_unreported(self) -> None:
        """After a stop or a failure: every row of this shard not reported yet is skipped."""
        ctx = self.ctx
        for item in shards.select(ctx.reader(), ctx.options.scale.shard):
            if item.line < len(self.seen) and self.seen[item.line]:
                continue
            if (isinstance(item, ManifestRow) and not ctx.options.force
                    and (d := ctx.resume.decide(item, row_fingerprint(item, ctx.run_fingerprint))) and d.resume):
                ctx.recorder.resumed(ctx.resume.record(item.id))
            else:
                ctx.recorder.skip(item, ctx.skip_reason())


def _absolute_paths(options):
    """The options the actors get: every path absolute (a worker's folder may differ)."""
    from ..defaults import default_checkpoint

    def absolute(path):
        return None if path is None else Path(path).expanduser().resolve()

    engine = dataclasses.replace(options.engine, engines_dir=absolute(options.engine.engines_dir),
                                 engine=absolute(options.engine.engine))
    edit = dataclasses.replace(options.edit, classifier=absolute(options.edit.classifier))
    return dataclasses.replace(options, checkpoint=absolute(default_checkpoint(options.checkpoint)),
                               out_dir=absolute(options.out_dir), engine=engine, edit=edit, log=None)
