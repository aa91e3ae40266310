"""The run's journal and reports.

Every finished row is appended to a JSONL journal under ``<out>/.attgan-batch/`` as it happens, so
a killed run loses nothing and a rerun skips finished rows. At the end the journal becomes
``report.csv`` (one line per row, for people and pandas) and ``report.json`` (the summary, for
programs); both are written atomically.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from .atomic import atomic_open

REPORT_COLUMNS = [
    "line", "id", "input", "output", "status", "error", "edit", "source", "source_predicted",
    "target", "applied", "style", "edited", "conflicts", "seconds", "note",
]
STATE_DIR = ".attgan-batch"
THUMBS_DIR = "thumbs"  # report.html's thumbnails, inside STATE_DIR (attgan_batch.thumbnails)


def state_dir(out_dir: Path) -> Path:
    return out_dir / STATE_DIR


def journal_path(out_dir: Path, tag: str = "") -> Path:
    """``journal.jsonl``, or ``journal.<tag>.jsonl`` for one shard (``tag`` = ``K-of-N``)."""
    return state_dir(out_dir) / (f"journal.{tag}.jsonl" if tag else "journal.jsonl")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or the new file, never half."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a journal; a torn last line (from a kill mid-write) is ignored."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                yield record


class Journal:
    """Append-only JSONL of finished rows; flushed per row (survives SIGKILL), fsynced on close.

    When the disk fills up, records that could not be written are kept in memory (``unsaved``)
    so the final report still covers every row.
    """

    def __init__(self, path: Path, keep: list[dict[str, Any]] | None = None):
        self.path = path
        self.unsaved: list[dict[str, Any]] = []
        self.error: str = ""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in keep or []))
        self._fh = open(path, "a", encoding="utf-8")

    def record(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        if not self.unsaved:
            try:
                self._fh.write(line)
                self._fh.flush()
                return
            except OSError as exc:
                self.error = f"journal {self.path} could not be written: {exc.strerror or exc}"
        self.unsaved.append(record)

    def records(self) -> Iterator[dict[str, Any]]:
        yield from read_journal(self.path)
        yield from self.unsaved

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                self.error = self.error or f"journal {self.path} could not be flushed: {exc.strerror or exc}"
            finally:
                try:
                    self._fh.close()
                except OSError:
                    pass


def finished_rows(out_dir: Path, tag: str = "") -> dict[str, dict[str, Any]]:
    """Rows an earlier run (or the same shard, ``tag``) finished: status ok and the output file still there."""
    done = {}
    for record in read_journal(journal_path(out_dir, tag)):
        if record.get("status") == "ok" and record.get("output") and (out_dir / record["output"]).is_file():
            done[record["id"]] = record
        else:
            done.pop(record["id"], None)
    return done


def write_reports(report_dir: Path, summary: dict[str, Any], records: Iterable[dict[str, Any]],
                  stem: str = "report") -> tuple[Path, Path]:
    """``<stem>.csv`` from the journal records (streamed) and ``<stem>.json`` from ``summary``."""
    csv_path, json_path = report_dir / f"{stem}.csv", report_dir / f"{stem}.json"
    report_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(csv_path) as fh:
        writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _flat(record.get(k, "")) for k in REPORT_COLUMNS})
    write_atomic(json_path, json.dumps(summary, indent=2, default=str) + "\n")
    return csv_path, json_path


def _flat(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete temp files a killed run left behind (only call while holding the run lock): in the
    outputs and among the report's thumbnails; the rest of the state folder (locks) is left alone."""
    removed = 0
    for tmp in out_dir.rglob(".*.tmp"):
        folders = tmp.relative_to(out_dir).parts[:-1]
        if tmp.is_file() and (STATE_DIR not in folders or folders == (STATE_DIR, THUMBS_DIR)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
