"""Checkpoint files: atomic writes, retention, and finding the newest one.

A checkpoint is the reference's ``{'G','D','optim_G','optim_D'}`` dict (loadable by the reference
and by :func:`attgan_batch.model.load_checkpoint`) plus keys the reference ignores that make a
resume exact: iteration, epoch, lr, RNG states, sampler position. Everything is tensors or plain
types so the file loads with ``torch.load(weights_only=True)``. Files are written to a temporary
name, fsynced and renamed, so a crash never leaves a half-written ``weights.N.pth``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_open

FORMAT = "attgan-batch-train/1"
_NAME = re.compile(r"^weights\.(\d+)\.pth$")


def weights_path(ckpt_dir: Path, step: int) -> Path:
    return ckpt_dir / f"weights.{step}.pth"


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(N, path) of every ``weights.N.pth``, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, fsync, then rename over ``path`` (and fsync the folder)."""
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened; rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def prune(ckpt_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints (keep <= 0 keeps all); return what went."""
    found = list_checkpoints(ckpt_dir)
    if keep <= 0 or len(found) <= keep:
        return []
    gone = [p for _, p in found[:-keep]]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
