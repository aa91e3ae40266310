"""Atomic writes: readers see the old file or the new one, never half of either.

Every file the tool writes goes through a temp file of one short, unambiguous form,
``.agb-<host>-<pid>-<n>.tmp``, in the target's folder, then a rename. The name is short, so a
legal 250-character output name never overflows the file-name limit, and it says which host and
process made it, so a later run removes only temp files of processes that are gone, never a
user's own ``.notes.tmp``.

:class:`OutputDir` writes below a root folder (``--out``) through directory descriptors opened
with ``O_NOFOLLOW``: checking a path and writing it are one step, so a symbolic link swapped in
at any moment makes that write fail instead of landing outside the folder.
"""
from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import socket
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from .errors import RowError

_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_COUNTER = itertools.count()
_TEMP = re.compile(r"^\.agb-([0-9a-f]{8})-(\d+)-[0-9a-f]+\.tmp$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def temp_name() -> str:
    """A fresh temp-file name of this process (unique within it, short whatever the target)."""
    return f".agb-{_HOST}-{os.getpid()}-{next(_COUNTER):x}.tmp"


def temp_beside(path: str | Path) -> Path:
    """A fresh temp path in ``path``'s folder, for writers that need a file name (exporters, builders);
    rename it over ``path`` when complete (``os.replace``), remove it on failure."""
    return Path(path).parent / temp_name()


def temp_owner(name: str) -> tuple[str, int] | None:
    """(host tag, pid) of a temp file this tool made, or None for any other name."""
    match = _TEMP.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def process_alive(pid: int) -> bool:
    """True while process ``pid`` (on this host) exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan_temp(name: str) -> bool:
    """True for this tool's temp file whose process (on this host) is gone."""
    owner = temp_owner(name)
    return owner is not None and owner[0] == _HOST and owner[1] != os.getpid() and not process_alive(owner[1])


def remove_orphan_temps(root: str | Path) -> int:
    """Delete the temp files of killed runs below ``root`` (never following links); return how many."""
    removed = 0
    for folder, _dirs, files in os.walk(root, followlinks=False, onerror=lambda exc: None):
        for name in files:
            if is_orphan_temp(name):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def _open_flags(mode: str) -> int:
    return os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def _temp_then_rename(dir_fd: int | None, folder: Path | None, name: str, mode: str, fsync: bool) -> Iterator[IO]:
    tmp = temp_name()
    kwargs = {"dir_fd": dir_fd} if dir_fd is not None else {}
    tmp_path = tmp if dir_fd is not None else str(folder / tmp)
    target = name if dir_fd is not None else str(folder / name)
    fd = os.open(tmp_path, _open_flags(mode), 0o644, **kwargs)
    text = "b" not in mode
    try:
        with os.fdopen(fd, "w" + ("" if text else "b"), **({"encoding": "utf-8", "newline": ""} if text else {})) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        if dir_fd is not None:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            os.replace(tmp_path, target)
    except BaseException:
        try:
            os.unlink(tmp_path, **kwargs)
        except OSError:
            pass
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, fsync: bool = True) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success (fsync and) rename it over ``path``.

    On an error the temp file is removed; after a SIGKILL it stays, and a later run removes it
    (:func:`remove_orphan_temps`). ``path`` itself is never partial.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temp_then_rename(None, path.parent, path.name, mode, fsync) as fh:
        yield fh


def write_atomic(path: str | Path, data: str | bytes, *, fsync: bool = True) -> None:
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as fh:
        fh.write(data)


def _relative_parts(relative: str | PurePosixPath) -> tuple[str, ...]:
    parts = PurePosixPath(str(relative).replace("\\", "/")).parts
    if not parts or parts[0] == "/" or any(p in ("..", "") for p in parts):
        raise RowError(f"{relative!r} is not a plain path inside the output folder")
    return tuple(p for p in parts if p != ".")


class OutputDir:
    """Writes confined to one folder: every directory on the way is opened with ``O_NOFOLLOW``
    relative to the one above it, starting from a descriptor of the root, so no path component
    can be (or become, mid-run) a link leading elsewhere. The root itself may be a link: that is
    the user's choice of ``--out``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "OutputDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _folder_fd(self, parts: tuple[str, ...], create: bool) -> int:
        """A new descriptor of the folder ``parts`` below the root (the caller closes it)."""
        fd = os.dup(self.fd)
        try:
            for i, part in enumerate(parts):
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        where = "/".join(parts[:i + 1])
                        raise RowError(f"{where} inside the output folder is a symbolic link or not a folder; "
                                       "outputs never follow links (remove it or choose another output name)") from None
                    raise
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    @contextmanager
    def open_atomic(self, relative: str | PurePosixPath, mode: str = "wb", *, fsync: bool = True) -> Iterator[IO]:
        """Write ``relative`` (a path below the root) atomically; RowError when a folder on the way
        is a link. An existing link at the final name is replaced, never followed."""
        parts = _relative_parts(relative)
        fd = self._folder_fd(parts[:-1], create=True)
        try:
            with _temp_then_rename(fd, None, parts[-1], mode, fsync) as fh:
                yield fh
        finally:
            os.close(fd)

    def write(self, relative: str | PurePosixPath, data: str | bytes, *, fsync: bool = True) -> None:
        with self.open_atomic(relative, "wb" if isinstance(data, bytes) else "w", fsync=fsync) as fh:
            fh.write(data)

    def is_file(self, relative: str | PurePosixPath) -> bool:
        """True when ``relative`` is a regular file reached without following any link."""
        try:
            parts = _relative_parts(relative)
            fd = self._folder_fd(parts[:-1], create=False)
        except (OSError, RowError):
            return False
        try:
            import stat

            return stat.S_ISREG(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False).st_mode)
        except OSError:
            return False
        finally:
            os.close(fd)

    def open_append(self, relative: str | PurePosixPath) -> IO:
        """An append-mode text file below the root (the journal), opened without following links."""
        parts = _relative_parts(relative)
        fd = self._folder_fd(parts[:-1], create=True)
        try:
            file_fd = os.open(parts[-1], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                              0o644, dir_fd=fd)
        finally:
            os.close(fd)
        return os.fdopen(file_fd, "a", encoding="utf-8")
