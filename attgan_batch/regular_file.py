"""Open a file for reading only if it is a regular file, without ever blocking.

Opening a FIFO for reading waits for a writer forever, and a device such as ``/dev/zero`` never
ends. ``open_regular`` opens with ``O_NONBLOCK`` (a FIFO then opens at once) and checks the opened
descriptor with ``fstat``, so the check and the read are about the same file even if the path is
swapped in between. Regular files ignore ``O_NONBLOCK``; symlinks to regular files are followed.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, device, socket or folder; ``kind`` says which."""

    def __init__(self, path: str | Path, kind: str):
        self.path, self.kind = Path(path), kind
        super().__init__(f"{path} is not a regular file (it is {kind})")


def file_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a character device' ... for an ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def open_regular(path: str | Path) -> BinaryIO:
    """``open(path, 'rb')`` for a regular file; NotRegularFile (an OSError) for anything else."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if os.path.exists(path) and not os.path.isfile(path):  # a socket cannot even be opened (ENXIO)
            raise NotRegularFile(path, file_kind(os.stat(path).st_mode)) from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
