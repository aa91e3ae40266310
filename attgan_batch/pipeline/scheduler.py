"""Batches for the generator: planned rows in, finished rows out.

Rows arrive decoded (or failing to decode) in manifest order; their generator images are collected
into batches of ``batch_size``. Each batch runs in an inference thread, so the next one is decoded
and planned meanwhile; backends with parallel lanes (OpenVINO streams: ``Backend.concurrency``) get
that many batches at once. Once the manifest is read to its end (:meth:`Scheduler.end`), the last
batches are cut into two small parts per lane, so the lanes finish together instead of one lane
running a whole batch while the others idle.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from ..errors import RowError
from ..manifest import ManifestRow, RowFailure
from .rows import Decoded, RowJob, RowPlanner

if TYPE_CHECKING:
    from ..editor import Editor


@dataclass
class Pending:
    """A manifest item on its way to the generator: its decode is running (``decoded``) or it
    already failed validation (a :class:`RowFailure`, ``decoded`` None)."""

    item: ManifestRow | RowFailure
    decoded: "Future[Decoded] | None"
    started: float = field(default_factory=time.perf_counter)
    fingerprint: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Slot:
    """Generator image ``k`` of ``job``: one element of a batch."""

    job: RowJob
    k: int


class Scheduler:
    """Plans rows, batches their images and runs the batches on the engine.

    Args:
        editor: plans (via ``planner``) and runs the generator.
        planner: turns a decoded row into a :class:`RowJob`.
        batch_size: generator images per batch.
        on_done: called (from an inference thread) with each row whose images are all made.
        on_failed: ``on_failed(item, started, error)`` for a row that failed before or in the
            generator; called once per row.
        on_first_batch: called once, as the first batch is sent to the generator (the report's
            ``startup_seconds``).
    """

    def __init__(self, editor: "Editor", planner: RowPlanner, *, batch_size: int,
                 on_done: Callable[[RowJob], None], on_failed: Callable[[ManifestRow | RowFailure, float, str], None],
                 on_first_batch: Callable[[], None] | None = None):
        self.editor, self.planner, self.batch_size = editor, planner, batch_size
        self.on_done, self.on_failed, self.on_first_batch = on_done, on_failed, on_first_batch
        self.lanes = max(1, int(editor.backend.concurrency))
        self.batch: list[Slot] = []
        self.in_flight: deque[Future] = deque()
        self.inference: ThreadPoolExecutor | None = None
        self.ending = False

    # ------------------------------------------------------------------ rows in
    def take(self, pending: Pending) -> None:
        """Plan one item (waiting for its decode) and queue its images; failures are reported."""
        item = pending.item
        if isinstance(item, RowFailure):
            self.on_failed(item, pending.started, item.error)
            return
        try:
            job = self.planner.plan(item, pending.decoded.result(), pending.started,
                                    fingerprint=pending.fingerprint, note=pending.note)
        except RowError as exc:
            self.on_failed(item, pending.started, str(exc))
            return
        except Exception as exc:  # a bug or an unforeseen file problem: fail the row, keep the batch
            self.on_failed(item, pending.started, f"unexpected error: {type(exc).__name__}: {exc}")
            return
        for k in range(job.n_images):
            self.batch.append(Slot(job, k))
            if len(self.batch) >= self.batch_size:
                self.flush()

    def end(self) -> None:
        """The manifest is read to its end: split what is left over the lanes."""
        self.ending = True

    # ------------------------------------------------------------------ batches out
    def flush(self) -> None:
        """Send the collected images to the generator and return at once; with every lane busy
        and one more batch waiting, first wait for the oldest."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        if self.inference is None:
            self.inference = ThreadPoolExecutor(self.lanes, thread_name_prefix="attgan-generate")
            if self.on_first_batch is not None:
                self.on_first_batch()
        for part in self.lane_parts(batch):
            work = [slot.job.work()[slot.k] for slot in part]
            # numpy, not torch.stack: no intra-op threads woken on the cores the engine is using
            x = torch.from_numpy(np.stack([image.numpy() for image, _plan in work]))
            a, style = self.editor.inputs([plan for _image, plan in work])
            self.in_flight.append(self.inference.submit(self._generate, part, x, a, style))
            while len(self.in_flight) > self.lanes + 1:  # one more waits, ready for the first free lane
                self.in_flight.popleft().result()

    def lane_parts(self, batch: list[Slot]) -> list[list[Slot]]:
        """The batch whole, except in the last rows of the manifest: two small parts per lane."""
        if not self.ending or self.lanes < 2:
            return [batch]
        size = -(-len(batch) // (2 * self.lanes))
        return [batch[i:i + size] for i in range(0, len(batch), size)]

    def drain(self, raise_errors: bool = True) -> None:
        """Wait until every batch sent to the generator is done and its rows are handed on."""
        while self.in_flight:
            future = self.in_flight.popleft()
            try:
                future.result()
            except Exception:
                if raise_errors:
                    raise

    def close(self) -> None:
        """Finish what is in flight (never leave a batch unwritten) and stop the threads."""
        self.drain(raise_errors=False)
        if self.inference is not None:
            self.inference.shutdown(wait=True)
            self.inference = None

    def _generate(self, part: list[Slot], x: torch.Tensor, a: torch.Tensor, style: torch.Tensor | None) -> None:
        t0 = time.perf_counter()
        try:
            y = self.editor.generate(x, a, style)
        except Exception as exc:  # the engine failed on this batch: fail its rows, go on
            for job in {id(s.job): s.job for s in part}.values():
                if job.fail():
                    self.on_failed(job.row, job.started, f"generator failed on this batch: {type(exc).__name__}: {exc}")
            return
        share = (time.perf_counter() - t0) / max(len(part), 1)
        for slot, out in zip(part, y):
            if slot.job.finish(slot.k, out, share):
                self.on_done(slot.job)
