"""The run's journal and reports.

Every finished row is appended to a JSONL journal under ``<out>/.attgan-batch/`` as it happens, so
a killed run loses nothing and a rerun skips finished rows. At the end the journal becomes
``report.csv`` (one line per row, for people and pandas) and ``report.json`` (the summary, for
programs); both are written atomically.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

REPORT_COLUMNS = [
    "line", "id", "input", "output", "status", "error", "edit", "source", "source_predicted",
    "target", "applied", "edited", "conflicts", "seconds", "note",
]
STATE_DIR = ".attgan-batch"


def state_dir(out_dir: Path) -> Path:
    return out_dir / STATE_DIR


def journal_path(out_dir: Path) -> Path:
    return state_dir(out_dir) / "journal.jsonl"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    """Append-only JSONL of finished rows; flushed per row (survives SIGKILL), fsynced on close."""

    def __init__(self, path: Path, keep: list[dict[str, Any]] | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in keep or []))
        self._fh = open(path, "a", encoding="utf-8")

    def record(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def finished_rows(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Rows an earlier run finished: status ok and the output file still there."""
    done = {}
    for record in read_journal(journal_path(out_dir)):
        if record.get("status") == "ok" and record.get("output") and (out_dir / record["output"]).is_file():
            done[record["id"]] = record
        else:
            done.pop(record["id"], None)
    return done


def write_reports(out_dir: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """report.csv from the journal (streamed) and report.json from ``summary``."""
    csv_path, json_path = out_dir / "report.csv", out_dir / "report.json"
    tmp = csv_path.with_name(f".{csv_path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for record in read_journal(journal_path(out_dir)):
                writer.writerow({k: _flat(record.get(k, "")) for k in REPORT_COLUMNS})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, csv_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_atomic(json_path, json.dumps(summary, indent=2, default=str) + "\n")
    return csv_path, json_path


def _flat(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


def render_csv(records: list[dict[str, Any]]) -> str:
    """CSV text of report records (used for shard merges and tests)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _flat(record.get(k, "")) for k in REPORT_COLUMNS})
    return buf.getvalue()
