"""One way to write a file so readers see the old file or the new one, never half of either."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync it and rename it over ``path``.

    On any error (or a kill) the temp file is removed or, after a SIGKILL, left as a hidden
    ``.<name>.<pid>.tmp`` that the next run cleans up; ``path`` itself is never partial.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = "b" not in mode
    try:
        with open(tmp, mode, **({"encoding": "utf-8", "newline": ""} if text else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
