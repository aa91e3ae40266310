"""The run's journal and reports.

Every finished row is appended to a JSONL journal under ``<out>/.attgan-batch/`` as it happens, so
a killed run loses nothing and a rerun resumes (:mod:`attgan_batch.pipeline.resume` decides which
rows are really finished). At the end this run's part of the journal becomes ``report.csv`` (one
line per row in manifest order, for people, spreadsheets and pandas) and ``report.json`` (the
summary, for programs); both are written atomically.

report.csv is opened by people in spreadsheets, which run a cell starting with ``=``, ``+``,
``-``, ``@``, tab or CR as a formula: such text cells get a leading ``'`` (OWASP's advice for CSV
injection). Numbers and numeric vectors stay as they are, and report.json keeps every raw value.
"""
from __future__ import annotations

import csv
import json
import re
import threading
from array import array
from pathlib import Path
from typing import Any, Iterable, Iterator

from .atomic import OutputDir

REPORT_COLUMNS = [
    "line", "id", "input", "output", "status", "error", "edit", "source", "source_predicted",
    "target", "applied", "style", "edited", "conflicts", "seconds", "note",
]
STATE_DIR = ".attgan-batch"
THUMBS_DIR = "thumbs"  # report.html's thumbnails, inside STATE_DIR (attgan_batch.thumbnails)

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMERIC = re.compile(rf"^\s*{_NUMBER}(?:\s*[,;]\s*{_NUMBER})*\s*$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def state_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR


def journal_name(tag: str = "") -> str:
    """``journal.jsonl``, or ``journal.<tag>.jsonl`` for one shard (``tag`` = ``K-of-N``), in STATE_DIR."""
    return f"{STATE_DIR}/" + (f"journal.{tag}.jsonl" if tag else "journal.jsonl")


def journal_path(out_dir: Path, tag: str = "") -> Path:
    return Path(out_dir) / journal_name(tag)


def csv_cell(value: Any) -> Any:
    """A report value as written to report.csv: lists joined, floats rounded, formulas defused."""
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMERIC.match(value):
        return "'" + value
    return value


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a journal; a torn last line (from a kill mid-write) is ignored."""
    try:
        fh = open(path, encoding="utf-8")
    except OSError:
        return
    with fh:
        for line in fh:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                yield record


class Journal:
    """Append-only JSONL of rows; flushed per row (survives SIGKILL), fsynced on close.

    The file starts with the records of earlier runs that ``keep`` passes on (so a kill before
    this run re-records them loses nothing); :meth:`records` yields this run's records only.
    When the disk fills up, records that could not be written are kept in memory (``unsaved``)
    so the final report still covers every row. Safe to call from several threads.
    """

    def __init__(self, out: OutputDir, name: str, keep: Iterable[dict[str, Any]] = ()):
        self.path = out.root / name
        self.unsaved: list[dict[str, Any]] = []
        self.error: str = ""
        self._lock = threading.Lock()
        out.write(name, "".join(json.dumps(r) + "\n" for r in keep))
        self._fh = out.open_append(name)
        self.start = self._fh.tell()

    def record(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with self._lock:
            if not self.unsaved:
                try:
                    self._fh.write(line)
                    self._fh.flush()
                    return
                except OSError as exc:
                    self.error = f"journal {self.path} could not be written: {exc.strerror or exc}"
            self.unsaved.append(record)

    def records(self) -> Iterator[dict[str, Any]]:
        """This run's records, in the order they finished."""
        for _offset, record in self._indexed():
            yield record
        yield from self.unsaved

    def records_in_order(self) -> Iterator[dict[str, Any]]:
        """This run's records in manifest order (by line), reading the file twice instead of
        holding every record: memory stays at 16 bytes per row."""
        index = array("q")
        for offset, record in self._indexed():
            index.extend((_line_of(record), offset))
        pairs = sorted(zip(index[0::2], index[1::2]))
        unsaved = sorted(self.unsaved, key=_line_of)
        try:
            fh = open(self.path, encoding="utf-8")
        except OSError:
            fh = None
        k = 0
        try:
            for line, offset in pairs:
                while k < len(unsaved) and _line_of(unsaved[k]) < line:
                    yield unsaved[k]
                    k += 1
                fh.seek(offset)
                yield json.loads(fh.readline())
        finally:
            if fh is not None:
                fh.close()
        yield from unsaved[k:]

    def _indexed(self) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            fh = open(self.path, "rb")
        except OSError:
            return
        with fh:
            fh.seek(self.start)
            while True:
                offset = fh.tell()
                raw = fh.readline()
                if not raw:
                    return
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict) and "id" in record:
                    yield offset, record

    def close(self) -> None:
        import os

        with self._lock:
            if self._fh.closed:
                return
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


def _line_of(record: dict[str, Any]) -> int:
    try:
        return int(record.get("line") or 0)
    except (TypeError, ValueError):
        return 0


def write_reports(out: OutputDir, summary: dict[str, Any], records: Iterable[dict[str, Any]],
                  stem: str = "report") -> tuple[Path, Path]:
    """``<stem>.csv`` from ``records`` (streamed) and ``<stem>.json`` from ``summary``."""
    with out.open_atomic(f"{stem}.csv", "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({k: csv_cell(record.get(k, "")) for k in REPORT_COLUMNS})
    out.write(f"{stem}.json", json.dumps(summary, indent=2, default=str) + "\n")
    return out.root / f"{stem}.csv", out.root / f"{stem}.json"
