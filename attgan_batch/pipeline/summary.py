"""What a run reports about itself as a whole (report.json), and the exit code CI acts on."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..version import __version__

EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXIT_TERMINATED = 143   # SIGTERM, what CI systems send on cancel or timeout
_IMPORTED = time.monotonic()


def process_seconds() -> float:
    """Seconds since this process started (Linux: from /proc, so the interpreter's own start-up and
    every import count); elsewhere since this module was imported."""
    try:
        with open("/proc/self/stat") as fh:
            started_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


@dataclass
class RunSummary:
    """Counts, timings, engine and checkpoint facts of one run.

    ``exit_code``: 0 every row ok (or resumed), 1 some rows failed or the run stopped early
    (``--max-failures``, the report could not be written into ``--out``), 130 interrupted by
    Ctrl-C, 143 stopped by SIGTERM.
    """

    manifest: str
    out_dir: str
    rows: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    resumed: int = 0
    redone: int = 0
    images_written: int = 0
    seconds: float = 0.0
    setup_seconds: float = 0.0
    startup_seconds: float | None = None  # process start -> first batch sent to the generator
    interrupted: bool = False
    interrupt_exit_code: int = EXIT_INTERRUPTED
    aborted: str = ""
    warnings: list[str] = field(default_factory=list)
    backend: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    report_csv: str = ""
    report_json: str = ""

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return self.interrupt_exit_code
        return 1 if (self.failed or self.aborted) else 0

    def to_dict(self) -> dict[str, Any]:
        import torch

        done = self.ok - self.resumed
        return {
            "manifest": self.manifest, "out_dir": self.out_dir,
            "counts": {"rows": self.rows, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                       "resumed": self.resumed, "redone": self.redone},
            "exit_code": self.exit_code, "interrupted": self.interrupted, "aborted": self.aborted,
            "seconds": round(self.seconds, 3), "setup_seconds": round(self.setup_seconds, 3),
            "startup_seconds": None if self.startup_seconds is None else round(self.startup_seconds, 2),
            "throughput": {"rows_per_second": round(done / self.seconds, 3) if self.seconds else 0.0,
                           "images_per_second": round(self.images_written / self.seconds, 3) if self.seconds else 0.0},
            "backend": self.backend, "checkpoint": self.checkpoint, "warnings": self.warnings,
            "versions": {"attgan_batch": __version__, "torch": torch.__version__},
        }
