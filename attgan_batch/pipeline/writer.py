"""The writer thread: compose each finished row, save its files atomically inside ``--out``,
make report.html's thumbnails, and record the row.

Encoding a PNG costs about as much as generating it on a CPU, so it runs beside the generator.
Files go through :class:`attgan_batch.atomic.OutputDir`: no write can leave ``--out``, even when
a folder inside it is swapped for a symbolic link mid-run; such a row fails, the others proceed.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING

from ..atomic import OutputDir
from ..data.images import encode_image
from ..errors import RowError
from ..thumbnails import write_thumbnails
from .compose import compose_row, edit_fields, grid_name, photo_notes
from .recorder import Recorder, record_for
from .rows import RowJob

if TYPE_CHECKING:
    from ..align.options import AlignOptions
    from ..editor import Editor


class OutputWriter:
    """Saves finished rows on its own thread; :meth:`put` hands it a row, :meth:`close` waits.

    Args:
        out: the output folder.
        editor: formats style codes for the report.
        recorder: receives each row's record.
        grid: also write ``<output stem>.grid.png``.
        align: ``--align`` settings (None: plain images).
        residual: compose outputs as residuals (``--compose``).
        thumbnails: make report.html's thumbnails (not for shard or Ray-actor runs' pages).
    """

    def __init__(self, out: OutputDir, editor: "Editor", recorder: Recorder, *, grid: bool = False,
                 align: "AlignOptions | None" = None, residual: bool = False, thumbnails: bool = True,
                 queue_size: int = 64):
        self.out, self.editor, self.recorder = out, editor, recorder
        self.grid, self.align, self.residual, self.thumbnails = grid, align, residual, thumbnails
        self.queue: queue.Queue[RowJob | None] = queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self._loop, name="attgan-writer", daemon=True)
        self.thread.start()

    def put(self, job: RowJob) -> None:
        self.queue.put(job)

    def close(self) -> None:
        """Write every row handed over so far, then stop the thread."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def _loop(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            try:
                self.write(job)
            except Exception as exc:  # never let the writer die: the producers would block forever
                self.recorder.summary.warnings.append(f"writer error: {type(exc).__name__}: {exc}")
                self.recorder.fail(job.row, job.started, f"unexpected error writing: {exc}")

    def write(self, job: RowJob) -> None:
        """Compose, save and record one row (on the writer thread)."""
        row = job.row
        files = [row.output]
        t0 = time.perf_counter()
        try:
            composed = compose_row(job, grid=self.grid, align=self.align, residual=self.residual)
            if composed.grid is not None:
                files.append(grid_name(row.output))
                with self.out.open_atomic(files[1]) as fh:
                    encode_image(composed.grid, fh, "png")
            with self.out.open_atomic(row.output) as fh:
                encode_image(composed.image, fh, row.fmt)
        except (OSError, RowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.recorder.fail(row, job.started, f"cannot write output {row.output}: {reason}")
            return
        if self.thumbnails:
            photo = job.decoded.photo
            extra = {"grid": composed.grid} if composed.grid is not None else {}
            if photo is not None:  # the whole-photo thumbnail is too small to see a face change
                extra |= {"face-in": job.faces[0].x, "face-out": job.faces[0].outputs[0]}
            write_thumbnails(self.out, row.id, photo.photo if photo is not None else job.decoded.x, composed.image,
                             extra)
        notes = photo_notes(job, self.align, self.grid, self.residual)
        if job.note:
            notes.insert(0, job.note)
        record = record_for(row, job.started, status="ok", **edit_fields(job, self.editor),
                            note="; ".join(notes), fingerprint=job.fingerprint, files=files,
                            seconds=round(job.work_seconds + time.perf_counter() - t0, 4))
        self.recorder.add(record, images=job.n_images)
