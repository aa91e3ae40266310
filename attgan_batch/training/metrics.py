"""Training logs: a JSONL metrics file (one averaged record per interval) and a rich progress bar."""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..atomic import write_atomic


class MetricsLog:
    """Averages each loss over the iterations of an interval and appends one JSON line per interval."""

    def __init__(self, path: Path | None, interval: int):
        self.path, self.interval = path, interval
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self._sums[key] += value
            self._counts[key] += 1

    def flush(self, **fields: Any) -> dict[str, Any] | None:
        """Write the averages gathered since the last flush with ``fields`` (step, epoch, lr ...)."""
        if not self._counts:
            return None
        record = dict(fields)
        record.update({k: self._sums[k] / self._counts[k] for k in sorted(self._sums)})
        self._sums.clear()
        self._counts.clear()
        self.write(record)
        return record

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (a resumed run repeats the iterations after its checkpoint)."""
        if self.path is None or not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip() and json.loads(ln).get("step", 0) <= step]
        write_atomic(self.path, "".join(lines))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (for tests, notebooks and docs)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        disable=not enabled, transient=False,
    )
