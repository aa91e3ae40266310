"""What every executor of a run shares: the options, the editor, the output folder, the recorder,
the earlier runs' finished rows and the stop signal. Built by :func:`attgan_batch.pipeline.run_manifest`,
handed to the executor chosen from :mod:`attgan_batch.executors`."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import OutputDir
from ..manifest import ManifestReader
from .compose import grid_name
from .options import OutputOptions, RunOptions
from .recorder import Recorder
from .resume import ResumeIndex
from .summary import EXIT_INTERRUPTED, RunSummary

if TYPE_CHECKING:
    from ..editor import Editor


def manifest_reader(manifest: Path, attrs, out_root: Path, output: OutputOptions,
                    base_dir: Path | None = None) -> ManifestReader:
    """The manifest's rows, validated; every file a row writes counts in the duplicate-output check."""
    return ManifestReader(Path(manifest), attrs, Path(out_root), output.fmt, scanned=True, base_dir=base_dir,
                          also_writes=(lambda name: [grid_name(name)]) if output.writes_grid else None)


class StopRequest(threading.Event):
    """Set it to end a run cleanly (in-flight rows are finished, the rest reported as skipped);
    ``exit_code`` is what the run then exits with (130 for Ctrl-C, 143 for SIGTERM)."""

    exit_code = EXIT_INTERRUPTED

    def request(self, exit_code: int = EXIT_INTERRUPTED) -> None:
        if not self.is_set():
            self.exit_code = exit_code
        self.set()


@dataclass
class RunContext:
    manifest: Path
    options: RunOptions
    editor: "Editor"
    out: OutputDir
    recorder: Recorder
    resume: ResumeIndex
    run_fingerprint: dict[str, str]
    stop: threading.Event

    @property
    def summary(self) -> RunSummary:
        return self.recorder.summary

    def reader(self) -> ManifestReader:
        """The manifest's rows (validated; already scanned once by run_manifest)."""
        return manifest_reader(self.manifest, self.editor.attrs, self.out.root, self.options.output,
                               self.options.photo.base_dir)

    def should_stop(self) -> bool:
        """True after a stop request or once more than ``--max-failures`` rows failed."""
        s = self.summary
        if self.stop.is_set():
            s.interrupted = True
            s.interrupt_exit_code = getattr(self.stop, "exit_code", EXIT_INTERRUPTED)
            return True
        limit = self.options.max_failures
        if limit is not None and s.failed > limit and not s.aborted:
            s.aborted = f"stopped after more than {limit} failed rows (--max-failures)"
        return bool(s.aborted)

    def skip_reason(self) -> str:
        return "interrupted before this row ran" if self.summary.interrupted else self.summary.aborted
