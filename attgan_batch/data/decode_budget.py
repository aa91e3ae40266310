"""One memory budget, in bytes, shared by every thread that decodes images.

A pixel limit alone does not bound memory: a 124 KB 16-bit PNG of 7990 x 7990 is under 64
megapixels yet costs gigabytes to decode and convert, and ``-j`` decode threads multiply that.
Each decode first estimates its peak from the file header (:func:`decode_cost`: size, mode, bit
depth, progressive JPEG), then waits until the shared budget has room (first come, first served,
so a large image is never starved by small ones). A decode larger than the whole budget fails at
once with a message saying how to raise it::

    budget = DecodeBudget(2 << 30)            # shared by all decode threads
    with budget.reserve(decode_cost(img), path):
        img.load()                            # ... convert, crop, resize
"""
from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from typing import Iterator

from PIL import Image

from ..errors import RowError

DEFAULT_DECODE_BYTES = 2 << 30  # 2 GiB: every image under the default pixel limit fits alone
DECODE_MEMORY_OPTION = "--decode-memory"  # the run option that sets the budget (named in messages)
STRIP_PIXELS = 1 << 20  # 16-bit images are converted in strips of about this many pixels


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow stores per pixel in ``mode`` (multi-band modes are padded to 4 bytes)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4  # I, F and every multi-band mode


def decode_cost(img: Image.Image, *, crop_copy: bool = True, full_size: tuple[int, int] | None = None) -> int:
    """Estimated peak bytes to decode ``img`` (opened, not loaded) and convert it to RGB.

    Counts the decoded pixels, an EXIF-rotated copy, the mode conversion's intermediates
    (alpha compositing keeps four full-size images alive, 16-bit conversion one 8-bit copy plus
    a strip of float64), the RGB result, the crop the model input is cut from (``crop_copy``),
    and libjpeg's coefficient buffers for progressive JPEGs (2 bytes per coefficient, at the
    file's full size ``full_size`` even when decoded reduced).
    """
    width, height = img.size
    pixels = width * height
    mode = img.mode
    cost = pixels * _bytes_per_pixel(mode)
    try:
        rotated = img.getexif().get(0x0112, 1) != 1
    except Exception:  # noqa: BLE001 - a damaged EXIF block: assume the rotated copy
        rotated = True
    if rotated:
        cost += pixels * _bytes_per_pixel(mode)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        cost += pixels * 16  # an RGBA copy, the white background, the composite and the RGB result
    elif mode.startswith("I") or mode == "F":
        cost += pixels * 5 + STRIP_PIXELS * 8 * 4  # the 8-bit copy, the RGB result, float64 strips
    elif mode != "RGB":
        cost += pixels * 4  # the RGB result
    if crop_copy:
        cost += pixels * 4
    if getattr(img, "format", None) in ("JPEG", "MPO") and ("progressive" in img.info or "progression" in img.info):
        full = full_size or img.size
        cost += full[0] * full[1] * len(img.getbands()) * 2
    return cost


class DecodeBudget:
    """At most ``max_bytes`` of estimated decode memory in use at once, across all threads."""

    def __init__(self, max_bytes: int = DEFAULT_DECODE_BYTES, option: str = DECODE_MEMORY_OPTION):
        if max_bytes < 1:
            raise ValueError(f"the decode memory budget must be at least 1 byte, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.option = option
        self.in_use = 0
        self.peak = 0  # the most ever reserved at once (for reports and tests)
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    @contextmanager
    def reserve(self, nbytes: int, what: object = "an image") -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the ``with`` block, waiting for room first.

        RowError at once when ``nbytes`` exceeds the whole budget: waiting would never help.
        """
        nbytes = max(int(nbytes), 0)
        if nbytes > self.max_bytes:
            raise RowError(
                f"decoding {what} needs about {_mib(nbytes)} of memory, more than the whole decode budget of "
                f"{_mib(self.max_bytes)}; resize the image or raise {self.option}")
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self.in_use + nbytes > self.max_bytes:
                    self._cond.wait()
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
            self._cond.notify_all()  # the next in line may fit as well
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):,.0f} MiB"


_shared: DecodeBudget | None = None
_shared_lock = threading.Lock()


def shared_budget() -> DecodeBudget:
    """The process-wide budget used when a caller passes none (DEFAULT_DECODE_BYTES)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DecodeBudget(DEFAULT_DECODE_BYTES)
        return _shared
