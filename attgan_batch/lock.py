"""One run per output folder: an exclusive lock file holding the owner's pid and host.

A lock whose process is gone (a killed run) is stale and taken over; a live one is refused.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .atomic import process_alive
from .errors import AttGANBatchError


class OutputLocked(AttGANBatchError):
    """Another live run writes into the same --out."""


def live_owner(path: Path) -> int | None:
    """The pid of the live run on this host holding lock file ``path``, else None."""
    try:
        owner = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    pid = owner.get("pid") if isinstance(owner, dict) else None
    if not isinstance(pid, int) or owner.get("host") not in (None, socket.gethostname()):
        return None
    return pid if pid != os.getpid() and process_alive(pid) else None


def refuse_overlapping_runs(state_dir: Path, is_shard: bool) -> None:
    """A whole-manifest run and ``--shard`` runs write the same files: never both at once into one
    ``--out`` (shards of one split run side by side). Call while holding this run's own lock: when
    two start together, each sees the other's lock and both stop, never both run."""
    others = [state_dir / "lock"] if is_shard else sorted(Path(state_dir).glob("lock.*-of-*"))
    for path in others:
        pid = live_owner(path)
        if pid is not None:
            what = "a whole-manifest run" if is_shard else f"shard {path.name[len('lock.'):].replace('-of-', '/')}"
            raise OutputLocked(f"{what} (pid {pid}) is writing into {Path(state_dir).parent}; a "
                               f"{'shard' if is_shard else 'whole-manifest run'} cannot run there at the same time. "
                               "Wait for it to finish, or use another --out")


class RunLock:
    def __init__(self, path: Path):
        self.path = path
        self.took_over_from: int | None = None
        self.release_error = ""  # why the lock file could not be removed (a warning, not a failure)

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                same_host = owner.get("host") in (None, socket.gethostname())
                pid = owner.get("pid")
                if isinstance(pid, int) and same_host and (pid == os.getpid() or process_alive(pid)):
                    raise OutputLocked(
                        f"another attgan-batch run (pid {pid}) is writing into {self.path.parent.parent}; "
                        f"wait for it to finish or use another --out (remove {self.path} if that run is gone)"
                    ) from None
                if not same_host:
                    raise OutputLocked(
                        f"{self.path} is held by a run on host {owner.get('host')}; if that run is gone, delete the lock"
                    ) from None
                self.took_over_from = pid if isinstance(pid, int) else -1
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return self
        raise OutputLocked(f"could not take the lock {self.path}; another run is starting in the same --out")

    def _owner(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        """Remove the lock file; a failure (a folder made read-only mid-run) is kept in
        ``release_error``, never raised: the run's work and reports are done by then, and a lock
        whose process is gone is taken over by the next run anyway."""
        try:
            if self._owner().get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            self.release_error = (f"could not remove the lock {self.path} ({exc.strerror or exc}); the next run "
                                  "takes it over, as this process is gone by then")

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
