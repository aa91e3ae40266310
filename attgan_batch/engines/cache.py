"""Where engine artefacts live by default: one per-user cache, shared by every folder you run in.

``$XDG_CACHE_HOME/attgan-batch/engines`` (else ``~/.cache/attgan-batch/engines``), keyed inside by
checkpoint sha256 (:mod:`.artifacts`), so a checkpoint is exported once per machine, not once per
working directory. ``--engines-dir`` still chooses another place (a CI job can point it at a
folder it keeps between runs). Two processes preparing the same engine at once: one builds while
the other waits on a lock, then uses the result; artefacts are written atomically, never half.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".build.lock"


def default_engines_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attgan-batch" / "engines"


def resolve_engines_dir(engines_dir: str | Path | None) -> Path:
    """``engines_dir``, or the per-user cache when None."""
    return Path(engines_dir) if engines_dir is not None else default_engines_dir()


@contextlib.contextmanager
def build_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while building into it (others wait, then reuse)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def cache_info(root: str | Path | None = None) -> dict:
    """Where the cache is, its size, and one entry per checkpoint (files and bytes)."""
    root = resolve_engines_dir(root)
    entries = []
    total = 0
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            files = [f for f in folder.rglob("*") if f.is_file() and f.name != LOCK_NAME]
            size = sum(f.stat().st_size for f in files)
            total += size
            entries.append({"key": folder.name, "files": sorted(str(f.relative_to(folder)) for f in files),
                            "bytes": size})
    return {"path": str(root), "bytes": total, "entries": entries}


def clear_cache(root: str | Path | None = None) -> int:
    """Remove every cached artefact below ``root`` (default: the per-user cache); bytes freed."""
    info = cache_info(root)
    folder = Path(info["path"])
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    return info["bytes"]
