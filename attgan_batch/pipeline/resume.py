"""Which rows an earlier run into the same ``--out`` really finished.

A row is kept from an earlier run only when everything that determines its output is unchanged:
the input file (path, size, modification time), every edit column (edit, target, source,
intensity, style), the output name, the checkpoint's sha256 and the options that change pixels
(conflict rules, crop, ``--align``, ``--grid``, precision, engine), and every file it wrote is
still there. Each journal record carries that fingerprint; a row whose fingerprint differs is
redone and its report note says what changed (``inputs changed since the earlier run: edit``).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..manifest import ManifestRow

ROW_FIELDS = ("image", "edit", "target", "source", "intensity", "style", "output")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 64 else "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def image_identity(path: os.PathLike | str) -> str:
    """The input file as far as a rerun can tell cheaply: absolute path, size and mtime."""
    try:
        st = os.stat(path)
    except OSError:
        return f"{os.path.abspath(path)}|missing"
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def row_fingerprint(row: ManifestRow, run_parts: dict[str, str]) -> dict[str, str]:
    """Everything that determines this row's output files, one short string per field."""
    parts = {
        "image": image_identity(row.image),
        "edit": _digest(row.edit_text),
        "target": _digest(row.target),
        "source": _digest(row.source),
        "intensity": _digest(row.intensity),
        "style": _digest(row.style),
        "output": row.output,
    }
    return parts | run_parts


def run_fingerprint(*, checkpoint_sha256: str, engine: str, precision: str, conflicts: str, rules: str,
                    crop: str, align: Any, grid: bool, style_sweep: str | None, classifier: str,
                    compose: str = "replace") -> dict[str, str]:
    """The run-wide part of every row's fingerprint (``compose``: replace or residual, as resolved)."""
    return {"checkpoint": checkpoint_sha256, "engine": engine, "precision": precision, "conflicts": conflicts,
            "rules": rules, "crop": crop, "align": _digest(align.__dict__ if align is not None else None),
            "grid": _digest([grid, style_sweep]), "classifier": classifier, "compose": compose}


@dataclass(frozen=True)
class Decision:
    resume: bool
    reason: str = ""  # why a row an earlier run finished is redone


@dataclass
class ResumeIndex:
    """The finished rows of earlier runs: their last journal record by id (picklable for Ray's reader)."""

    finished: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], file_exists) -> tuple["ResumeIndex", list[dict]]:
        """(index, records to keep in the journal) from a journal's records, oldest first; a row
        counts as finished when its last record is ok and every file it wrote still exists."""
        kept: dict[str, dict[str, Any]] = {}
        for record in records:
            row_id = record.get("id")
            if not isinstance(row_id, str):
                continue
            files = record.get("files") or ([record["output"]] if record.get("output") else [])
            if record.get("status") == "ok" and files and all(file_exists(f) for f in files):
                kept[row_id] = record
            else:
                kept.pop(row_id, None)
        return cls(kept), list(kept.values())

    def decide(self, row: ManifestRow, fingerprint: dict[str, str]) -> Decision | None:
        """None for a row no earlier run finished; else resume it, or redo it saying why."""
        record = self.finished.get(row.id)
        if record is None:
            return None
        earlier = record.get("fingerprint") or {}
        if not earlier:
            return Decision(False, "the earlier run of this row recorded no fingerprint; redone")
        changed = [k for k in fingerprint if earlier.get(k) != fingerprint[k]]
        if not changed:
            return Decision(True)
        names = [k if k in ROW_FIELDS else f"--{k}" if k not in ("checkpoint", "engine") else k for k in changed]
        return Decision(False, "inputs changed since the earlier run: " + ", ".join(names))

    def record(self, row_id: str) -> dict[str, Any]:
        """The earlier run's record of a resumed row (it goes into this run's report as it was)."""
        return self.finished[row_id]

    def __len__(self) -> int:
        return len(self.finished)
