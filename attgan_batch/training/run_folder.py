"""An existing run in ``--out``: found before a new run starts, refused or cleared (``--overwrite``).

A new run into a folder that holds an old one would leave the old ``weights.N.pth`` beside the new
ones, and loaders pick the largest N, so ``run -c OUT`` could silently use the old model. Only the
trainer's own files count and only they are removed; anything else in the folder is left alone.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..atomic import is_orphan_temp
from ..errors import AttGANBatchError
from .checkpoints import list_checkpoints

_SAMPLE = re.compile(r"^step_\d+\.png$")


class RunFolderInUse(AttGANBatchError):
    """``--out`` already holds a run and neither ``--resume`` nor ``--overwrite`` was given."""


def run_files(out: Path) -> list[Path]:
    """The files an earlier ``attgan-batch train`` left in ``out`` (empty for a new folder)."""
    ckpt_dir = out / "checkpoint"
    found = [p for p in (out / "setting.txt", out / "metrics.jsonl") if p.is_file()]
    found += [p for _, p in list_checkpoints(ckpt_dir)]
    if ckpt_dir.is_dir():
        found += [p for p in ckpt_dir.iterdir() if is_orphan_temp(p.name)]  # a killed save's temp file
    samples = out / "sample_training"
    if samples.is_dir():
        found += [p for p in samples.iterdir() if _SAMPLE.match(p.name)]
    return found


def refuse_existing(out: Path) -> None:
    """Raise :class:`RunFolderInUse` when ``out`` holds checkpoints, a setting.txt or metrics of a run."""
    files = run_files(out)
    if not files:
        return
    newest = list_checkpoints(out / "checkpoint")
    what = f"checkpoints up to {newest[-1][1].name}" if newest else ", ".join(sorted({p.name for p in files})[:3])
    raise RunFolderInUse(
        f"{out} already holds a training run ({what}). Continue it with --resume, or start a new run there "
        f"with --overwrite (deletes its checkpoints, metrics.jsonl and sample grids first), or pick another --out.")


def clear_run(out: Path) -> list[Path]:
    """Delete the files of an earlier run in ``out`` (see :func:`run_files`); return what went."""
    files = run_files(out)
    for path in files:
        path.unlink(missing_ok=True)
    for folder in (out / "checkpoint", out / "sample_training"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return files
