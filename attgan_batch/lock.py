"""One run per output folder: an exclusive lock file holding the owner's pid and host.

A lock whose process is gone (a killed run) is stale and taken over; a live one is refused.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .errors import AttGANBatchError


class OutputLocked(AttGANBatchError):
    """Another live run writes into the same --out."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    def __init__(self, path: Path):
        self.path = path
        self.took_over_from: int | None = None

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
                if isinstance(pid, int) and same_host and (pid == os.getpid() or _alive(pid)):
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
        if self._owner().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
