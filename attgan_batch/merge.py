"""Join the reports of ``run --shard K/N`` jobs into one report.csv + report.json (``report merge``).

The merge is only written when every data row of the manifest appears in exactly one shard
report, under its own id and in the shard its id hashes to; otherwise nothing is written and
:class:`MergeError` lists the missing, duplicated and misplaced rows. Memory stays flat in the
number of rows (a few bytes per row): reports are indexed by byte offset, then copied row by row
in manifest order.
"""
from __future__ import annotations

import contextlib
import csv
import json
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import AttGANBatchError
from .lock import RunLock
from .atomic import atomic_open, remove_orphan_temps, write_atomic
from .manifest import manifest_row_ids, scan_manifest
from .report import REPORT_COLUMNS, state_dir
from .shards import Shard, lock_name, shard_of

SHARD_REPORT = re.compile(r"^report\.(\d+)-of-(\d+)\.csv$")
MAX_LISTED = 20


class MergeError(AttGANBatchError):
    """The shard reports do not cover the manifest exactly once; ``problems`` says where."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the shard reports do not cover every manifest row exactly once:\n  "
                         + "\n  ".join(problems))


@dataclass
class MergeResult:
    csv_path: Path
    json_path: Path
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.summary["exit_code"]


def find_shard_reports(out_dir: Path) -> dict[Shard, Path]:
    found = {}
    for path in sorted(Path(out_dir).glob("report.*-of-*.csv")):
        match = SHARD_REPORT.match(path.name)
        if match:
            with contextlib.suppress(ValueError):
                found[Shard(int(match.group(1)), int(match.group(2)))] = path
    return found


def merge_reports(out_dir: str | Path, manifest: str | Path | None = None) -> MergeResult:
    """Check the shard reports in ``out_dir`` against ``manifest`` (default: the one they name)
    and write ``report.csv`` / ``report.json``; MergeError (nothing written) when rows are missing,
    duplicated or misplaced, AttGANBatchError when there is nothing to merge."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise AttGANBatchError(f"{out_dir} is not a folder; give the --out folder the shards wrote into")
    shards = _complete_set(out_dir)
    count = next(iter(shards)).count
    summaries = {s: _read_summary(path.with_suffix(".json")) for s, path in shards.items()}
    manifest = _manifest_path(manifest, summaries)
    total = scan_manifest(manifest)
    _check_same_run(summaries)
    warnings = [f"shard {s}: {w}" for s, summary in summaries.items() for w in summary.get("warnings", [])]
    with contextlib.ExitStack() as stack:
        for s in shards:  # no shard may be running (or start) while its report is read
            lock = stack.enter_context(RunLock(state_dir(out_dir) / lock_name(s)))
            if lock.took_over_from is not None:
                warnings.append(f"shard {s}'s lock was left by a killed run (pid {lock.took_over_from}); its report "
                                "is from the last run that finished")
        index = _ReportIndex(total, shards)
        csv_path, counts = _write_merged(out_dir, manifest, index, count)
        stale = remove_orphan_temps(out_dir)
        if stale:
            warnings.append(f"removed {stale} partial file(s) left by interrupted shards")
        summary = _merged_summary(out_dir, manifest, shards, summaries, counts, warnings)
        _write_html(out_dir, summary, csv_path, warnings)  # first: report.json lists its warning, if any
        json_path = out_dir / "report.json"
        write_atomic(json_path, json.dumps(summary, indent=2, default=str) + "\n")
    return MergeResult(csv_path, json_path, summary, warnings)


def _complete_set(out_dir: Path) -> dict[Shard, Path]:
    found = find_shard_reports(out_dir)
    if not found:
        raise AttGANBatchError(f"no shard reports (report.K-of-N.csv) in {out_dir}; run `attgan-batch run MANIFEST "
                               f"--out {out_dir} --shard K/N` for K = 1..N first")
    counts = sorted({s.count for s in found})
    if len(counts) > 1:
        raise MergeError([f"reports of {n} shards: " + ", ".join(p.name for s, p in found.items() if s.count == n)
                          for n in counts] + ["remove the reports of the split you no longer use"])
    n = counts[0]
    missing = [Shard(k, n) for k in range(1, n + 1) if Shard(k, n) not in found]
    if missing:
        raise MergeError([f"report.{s.tag}.csv is missing: shard {s} has not finished (rerun it with --shard {s})"
                          for s in missing])
    return dict(sorted(found.items(), key=lambda item: item[0].index))


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MergeError([f"{path.name} is missing or unreadable ({exc}); rerun that shard"]) from None
    return data if isinstance(data, dict) else {}


def _manifest_path(given: str | Path | None, summaries: dict[Shard, dict]) -> Path:
    if given is not None:
        return Path(given)
    named = {str(summary.get("manifest", "")) for summary in summaries.values()}
    if len(named) != 1 or not next(iter(named)):
        raise AttGANBatchError(f"the shard reports name different manifests ({', '.join(sorted(named))}); "
                               "pass the one to check against with --manifest")
    path = Path(next(iter(named)))
    if not path.is_file():
        raise AttGANBatchError(f"the shard reports name the manifest {path}, which is not found from here "
                               "(a relative path is relative to where the shards ran); pass --manifest PATH")
    return path


def _check_same_run(summaries: dict[Shard, dict]) -> None:
    digests = {s: (summary.get("checkpoint") or {}).get("sha256") for s, summary in summaries.items()}
    if len(set(digests.values())) > 1:
        raise MergeError([f"shard {s} used checkpoint sha256 {str(d)[:12]}" for s, d in digests.items()]
                         + ["every shard must run the same checkpoint; rerun the odd ones"])


class _Lines:
    """Binary lines -> text for csv.reader, tracking the byte offset where the next record starts."""

    def __init__(self, fh: BinaryIO):
        self.fh, self.pos = fh, fh.tell()

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.pos += len(line)
        return line.decode("utf-8")


class _ReportIndex:
    """Per manifest line: how many shard reports hold it, and where (file, byte offset)."""

    def __init__(self, total_rows: int, shards: dict[Shard, Path]):
        size = total_rows + 2  # lines 2..total+1 are data rows
        self.count = bytearray(size)
        self.shard = array("i", [0]) * size
        self.offset = array("q", [0]) * size
        self.paths = {s.index: path for s, path in shards.items()}
        self.headers: dict[int, list[str]] = {}
        self.extra: list[str] = []  # lines a report holds that the manifest does not
        self.duplicates: dict[int, list[int]] = {}
        for s, path in shards.items():
            self._index(s.index, path, size)

    def _index(self, k: int, path: Path, size: int) -> None:
        with open(path, "rb") as fh:
            if fh.read(3) != b"\xef\xbb\xbf":
                fh.seek(0)
            lines = _Lines(fh)
            reader = csv.reader(lines)
            self.headers[k] = next(reader, [])
            col = self.headers[k].index("line") if "line" in self.headers[k] else None
            start = lines.pos
            for record in reader:
                try:
                    line = int(record[col]) if col is not None else -1
                except (ValueError, IndexError):
                    line = -1
                if not 2 <= line < size:
                    self.extra.append(f"report.{k}-of-{len(self.paths)}.csv has a row for line {line} "
                                      f"(id {_get(record, self.headers[k], 'id')!r}) that the manifest does not have")
                elif self.count[line]:
                    self.duplicates.setdefault(line, [self.shard[line]]).append(k)
                    self.count[line] = min(255, self.count[line] + 1)
                else:
                    self.count[line], self.shard[line], self.offset[line] = 1, k, start
                start = lines.pos

    def read(self, line: int, handles: dict[int, BinaryIO]) -> dict[str, str]:
        k = self.shard[line]
        fh = handles[k]
        fh.seek(self.offset[line])
        record = next(csv.reader(_Lines(fh)))
        return dict(zip(self.headers[k], record))


def _get(record: list[str], header: list[str], name: str) -> str:
    return record[header.index(name)] if name in header and header.index(name) < len(record) else ""


def _write_merged(out_dir: Path, manifest: Path, index: _ReportIndex, count: int) -> tuple[Path, dict[str, int]]:
    problems = {"missing": [], "duplicate": [], "misplaced": []}
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    csv_path = out_dir / "report.csv"
    with contextlib.ExitStack() as stack:
        handles = {k: stack.enter_context(open(p, "rb")) for k, p in index.paths.items()}
        out = stack.enter_context(atomic_open(csv_path, "w"))  # nothing replaces report.csv on a MergeError
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for line, row_id in manifest_row_ids(manifest):
            n = index.count[line]
            if n == 0:
                problems["missing"].append(f"{row_id} (line {line}, shard {shard_of(row_id, count)})")
                continue
            if n > 1:
                problems["duplicate"].append(f"{row_id} (line {line}) in shards "
                                             + ", ".join(map(str, index.duplicates.get(line, []))))
                continue
            record = index.read(line, handles)
            expected = shard_of(row_id, count)
            if record.get("id") != row_id or index.shard[line] != expected:
                problems["misplaced"].append(
                    f"line {line}: report.{index.shard[line]}-of-{count}.csv has id {record.get('id')!r}, the "
                    f"manifest has {row_id!r} (shard {expected}); was the manifest edited between shards?")
                continue
            status = record.get("status", "")
            counts[status if status in counts else "failed"] += 1
            writer.writerow({k: record.get(k, "") for k in REPORT_COLUMNS})
        listed = _listing(problems, index.extra)
        if listed:
            raise MergeError(listed)
    return csv_path, counts


def _listing(problems: dict[str, list[str]], extra: list[str]) -> list[str]:
    out = []
    for kind, label in (("missing", "missing from every shard report"), ("duplicate", "in more than one report"),
                        ("misplaced", "in the wrong report")):
        items = problems[kind]
        if items:
            more = f" ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
            out.append(f"{len(items)} row(s) {label}: " + "; ".join(items[:MAX_LISTED]) + more)
    if extra:
        more = f" ... and {len(extra) - MAX_LISTED} more" if len(extra) > MAX_LISTED else ""
        out.append("; ".join(extra[:MAX_LISTED]) + more)
    return out


def _merged_summary(out_dir: Path, manifest: Path, shards: dict[Shard, Path], summaries: dict[Shard, dict],
                    counts: dict[str, int], warnings: list[str]) -> dict[str, Any]:
    first = summaries[next(iter(shards))]
    seconds = max((float(s.get("seconds") or 0) for s in summaries.values()), default=0.0)
    resumed = sum(int((s.get("counts") or {}).get("resumed") or 0) for s in summaries.values())
    aborted = "; ".join(f"shard {k}: {s['aborted']}" for k, s in summaries.items() if s.get("aborted"))
    throughput = {key: round(sum(float((s.get("throughput") or {}).get(key) or 0) for s in summaries.values()), 3)
                  for key in ("rows_per_second", "images_per_second")}
    return {
        "manifest": str(manifest), "out_dir": str(out_dir),
        "merged_from": [p.with_suffix(".json").name for p in shards.values()],
        "counts": {"rows": sum(counts.values()), **counts, "resumed": resumed},
        "exit_code": 1 if (counts["failed"] or counts["skipped"] or aborted) else 0,
        "interrupted": any(s.get("interrupted") for s in summaries.values()), "aborted": aborted,
        "seconds": round(seconds, 3),
        "throughput": throughput,  # the shards' sum: the aggregate rate when they ran at the same time
        "backend": first.get("backend", {}), "checkpoint": first.get("checkpoint", {}),
        "warnings": warnings, "versions": first.get("versions", {}),
        "shards": [{"shard": str(k), "counts": s.get("counts"), "seconds": s.get("seconds"),
                    "throughput": s.get("throughput"), "exit_code": s.get("exit_code"),
                    "backend": s.get("backend")} for k, s in summaries.items()],
    }


def _write_html(out_dir: Path, summary: dict[str, Any], csv_path: Path, warnings: list[str]) -> None:
    """report.html for the whole manifest, when this install has the page writer."""
    try:
        from .html_report import write_html_report
    except ImportError:
        return
    try:
        with open(csv_path, encoding="utf-8", newline="") as fh:
            write_html_report(out_dir, summary, csv.DictReader(fh))
    except Exception as exc:  # noqa: BLE001 - the page is a convenience; csv/json are written
        warnings.append(f"report.html could not be written: {type(exc).__name__}: {exc}")
