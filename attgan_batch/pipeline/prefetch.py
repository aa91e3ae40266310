"""Decode the manifest's first rows while the engine is being prepared.

Why: preparing the engine (building the graph, compiling and checking it: about a second on a first
run) keeps one core busy; without a prefetch the run would wait for it with nothing decoded.
Decoding is the slow part of a row for photos (a 1024 px JPEG ~8 ms, a phone photo ~0.1 s; a 128 px
PNG 0.5 ms), so a run's first window of rows is decoded on the other core meanwhile, and the first
batch is ready when the engine is. Decoded rows are handed to the executor by manifest line; a row
not reached yet is decoded by the executor as usual, never twice.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, Iterable

from ..manifest import ManifestRow, RowFailure
from .rows import Decoded


class DecodePrefetch:
    """Decodes up to ``limit`` rows of ``rows`` in one background thread, until :meth:`stop`."""

    def __init__(self, rows: Iterable[ManifestRow | RowFailure], decode_row: Callable[[ManifestRow], Decoded],
                 limit: int):
        self._decoded: dict[tuple[int, str], Future] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(rows, decode_row, limit), daemon=True,
                                        name="attgan-prefetch")
        self._thread.start()

    def _fill(self, rows: Iterable[ManifestRow | RowFailure], decode_row: Callable[[ManifestRow], Decoded],
              limit: int) -> None:
        try:
            for item in rows:
                if self._stopped.is_set() or len(self._decoded) >= limit:
                    return
                if not isinstance(item, ManifestRow):
                    continue
                future: Future = Future()
                future.set_running_or_notify_cancel()
                with self._lock:
                    if self._stopped.is_set():
                        return
                    self._decoded[(item.line, str(item.image))] = future  # from here on, the executor waits for it
                try:
                    future.set_result(decode_row(item))
                except BaseException as exc:  # noqa: BLE001 - a bad image fails its row where the executor takes it
                    future.set_exception(exc)
        except Exception:  # noqa: BLE001 - an unreadable manifest is reported by the run itself
            return

    def stop(self) -> None:
        """Decode no further rows (the one in progress is finished and still handed out)."""
        with self._lock:
            self._stopped.set()

    def take(self, row: ManifestRow) -> Future | None:
        """The decode of ``row`` if it was prefetched (done or in progress), else None."""
        with self._lock:
            return self._decoded.pop((row.line, str(row.image)), None)

    def close(self) -> None:
        self.stop()
        self._thread.join()
