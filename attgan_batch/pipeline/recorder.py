"""Report records and counts: what each row did, journalled the moment it is known.

Every row ends as one :class:`RowRecord` (ok, failed or skipped) or is counted as resumed; the
recorder appends the record to the journal (which survives a kill), updates the run's counts and
calls the progress callback. It is safe to call from the writer and the generator threads.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..attributes import format_vector
from ..manifest import ManifestRow, RowFailure
from .summary import RunSummary


@dataclass
class RowRecord:
    """One report line: the fields are report.csv's columns (``report.REPORT_COLUMNS``), in order, then
    what a rerun needs to decide whether the row is still finished (journal and report.json only)."""

    line: int
    id: str
    input: str
    output: str
    status: str = "ok"        # ok | failed | skipped
    error: str = ""
    edit: str = ""
    source: str = ""
    source_predicted: str = ""
    target: str = ""
    applied: str = ""
    style: str = ""
    edited: str = ""
    conflicts: str = ""
    seconds: float = 0.0
    note: str = ""
    fingerprint: dict[str, str] = field(default_factory=dict)  # pipeline.resume: what made this output
    files: list[str] = field(default_factory=list)             # every file the row wrote, relative to --out

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not self.fingerprint:
            data.pop("fingerprint")
        if not self.files:
            data.pop("files")
        return data


def record_for(item: ManifestRow | RowFailure, started: float, **fields: Any) -> RowRecord:
    """A record with the row's own columns filled in and the time since ``started``."""
    row = item if isinstance(item, ManifestRow) else None
    record = RowRecord(line=item.line, id=item.id, input=str(item.image), output=item.output,
                       edit=row.edit_text if row else "", seconds=round(time.perf_counter() - started, 4))
    if row is not None and row.source is not None:
        record.source = format_vector(row.source)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


class JournalLike(Protocol):
    def record(self, record: dict[str, Any]) -> None: ...


class Recorder:
    """Journal, counts and progress of one run.

    Args:
        journal: where each record goes at once (:class:`attgan_batch.report.Journal`, or a list
            collector in a Ray actor).
        summary: the counts to update.
        on_progress: ``on_progress(done, failed)`` after each row.
    """

    def __init__(self, journal: JournalLike, summary: RunSummary,
                 on_progress: Callable[[int, int], None] | None = None):
        self.journal, self.summary, self.on_progress = journal, summary, on_progress
        self.lock = threading.Lock()

    def add(self, record: RowRecord, images: int = 0) -> None:
        """Journal ``record`` and count it (``images`` = generator images it wrote)."""
        self.journal.record(record.to_dict())
        s = self.summary
        with self.lock:
            s.rows += 1
            s.images_written += images
            if record.status == "ok":
                s.ok += 1
            elif record.status == "failed":
                s.failed += 1
            else:
                s.skipped += 1
        self._progress()

    def add_raw(self, record: dict[str, Any], images: int = 0) -> None:
        """A record made elsewhere (a Ray actor's), already a dict."""
        self.add(RowRecord(**{k: v for k, v in record.items() if k in _FIELDS}), images)

    def fail(self, item: ManifestRow | RowFailure, started: float, error: str) -> None:
        self.add(record_for(item, started, status="failed", error=error))

    def skip(self, item: ManifestRow | RowFailure, reason: str) -> None:
        self.add(record_for(item, time.perf_counter(), status="skipped", error=f"not run: {reason}"))

    def resumed(self, record: dict[str, Any]) -> None:
        """A row an earlier run finished with the same inputs: not run again; its earlier record
        goes into this run's part of the journal (and so into the report) as it was."""
        self.journal.record(record)
        s = self.summary
        with self.lock:
            s.rows += 1
            s.ok += 1
            s.resumed += 1
        self._progress()

    def count_images(self, n: int) -> None:
        with self.lock:
            self.summary.images_written += n

    def _progress(self) -> None:
        if self.on_progress:
            s = self.summary
            self.on_progress(s.ok + s.failed + s.skipped, s.failed)


_FIELDS = {f.name for f in dataclasses.fields(RowRecord)}
