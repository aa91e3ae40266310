"""Decode, preprocess and encode images exactly as the reference does, defensively.

Decoding refuses decompression bombs before any pixel is decoded, reads regular files only (a
FIFO or device would block), waits for room in a memory budget shared by all decode threads
(``decode_budget``), honours EXIF orientation, and converts odd modes (grayscale, palette, RGBA,
CMYK, 16-bit) to RGB. Preprocessing follows the
reference: optional CelebA centre crop (170 px), resize to the model size, ToTensor, Normalize(0.5,
0.5). Encoding mirrors ``torchvision.utils.save_image(normalize=True, value_range=(-1, 1))``.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import RowError
from ..regular_file import NotRegularFile, open_regular
from .decode_budget import STRIP_PIXELS, DecodeBudget, decode_cost, shared_budget

CROPS = ("auto", "celeba", "square", "none")
CELEBA_ALIGNED_SIZE = (178, 218)  # width, height of img_align_celeba files
CELEBA_CROP = 170
DEFAULT_MAX_PIXELS = 64_000_000  # ~8000 x 8000; larger files are refused as likely decompression bombs


def load_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *,
             budget: DecodeBudget | None = None) -> Image.Image:
    """Decode ``path`` to an RGB image, or raise RowError saying what is wrong with the file.

    The decode waits for room in ``budget`` (default: the process-wide :func:`shared_budget`);
    the RGB image it returns is the caller's to hold.
    """
    with _opened(path, max_pixels) as img:
        with (budget or shared_budget()).reserve(decode_cost(img, crop_copy=False), path):
            return _decode(img)


def decode_for_model(path: str | Path, img_size: int, crop: str = "auto", *, max_pixels: int = DEFAULT_MAX_PIXELS,
                     budget: DecodeBudget | None = None) -> torch.Tensor:
    """``preprocess(load_rgb(path), img_size, crop)`` with the budget held until the tensor is made.

    A JPEG much larger than the model input is decoded reduced (``Image.draft``: libjpeg scales by
    1/2, 1/4 or 1/8 while decoding, which is faster and smaller), keeping at least
    ``DRAFT_MARGIN`` x ``img_size`` pixels on each side for the antialiased resize. Images smaller
    than that, and the 170 px CelebA crop (a fixed number of pixels), are decoded as they are.
    """
    with _opened(path, max_pixels) as img:
        full_size = img.size
        kind = resolve_crop(full_size, crop)
        if kind != "celeba" and img.format == "JPEG":
            side = DRAFT_MARGIN * img_size
            img.draft(img.mode, (side, side))
        with (budget or shared_budget()).reserve(decode_cost(img, full_size=full_size), path):
            return preprocess(_decode(img), img_size, kind)


DRAFT_MARGIN = 4


@contextlib.contextmanager
def _opened(path: str | Path, max_pixels: int) -> Iterator[Image.Image]:
    """The image opened lazily (header only), after the file and pixel-count checks."""
    path = Path(path)
    try:
        found = path.exists()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise RowError(f"image path cannot be looked up ({getattr(exc, 'strerror', None) or exc}): "
                       f"{str(path)[:200]}") from None
    if not found:
        raise RowError(f"image not found: {path}")
    if path.is_dir():
        raise RowError(f"image path is a directory, not a file: {path}")
    try:
        fh = open_regular(path)
    except NotRegularFile as exc:
        raise RowError(f"image {path} is not a regular file (it is {exc.kind})") from None
    except OSError as exc:
        raise RowError(f"cannot open image {path}: {exc.strerror or exc}") from None
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise RowError(f"image file is empty (0 bytes): {path}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(fh) as img:
                    width, height = img.size
                    if width * height > max_pixels:
                        raise RowError(
                            f"image {path} is {width}x{height} = {width * height:,} pixels, above the limit of "
                            f"{max_pixels:,} (a possible decompression bomb); resize it or raise --max-pixels"
                        )
                    yield img
        except RowError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RowError(f"image {path} refused as a decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise RowError(f"not an image file PIL can read (wrong extension or corrupt): {path}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise RowError(f"image {path} is corrupt or truncated: {exc}") from exc


def _decode(img: Image.Image) -> Image.Image:
    img.load()
    ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an image that needs no turn
    return _to_rgb(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _deep_to_rgb(img)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def _deep_to_rgb(img: Image.Image) -> Image.Image:
    """16/32-bit grey to 8 bits (full range to 0..255, rounded), in strips: float64 of a whole
    7990 x 7990 image would be 510 MB per temporary. Same arithmetic per pixel as one pass."""
    top = 65535.0 if img.mode.startswith("I;16") or img.getextrema()[1] > 255 else 255.0
    width, height = img.size
    out = np.empty((height, width), dtype=np.uint8)
    rows = max(1, STRIP_PIXELS // max(width, 1))
    for y in range(0, height, rows):
        arr = np.asarray(img.crop((0, y, width, min(height, y + rows))), dtype=np.float64)
        out[y:y + rows] = (arr / top * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return Image.fromarray(out).convert("RGB")


def resolve_crop(size: tuple[int, int], crop: str) -> str:
    """The crop ``crop`` means for an image of ``size``: 'auto' becomes 'celeba' or 'square'."""
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; expected one of {CROPS}")
    if crop == "auto":
        return "celeba" if size == CELEBA_ALIGNED_SIZE else "square"
    return crop


def crop_box(size: tuple[int, int], crop: str) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) box ``crop`` selects, or None for no crop."""
    width, height = size
    crop = resolve_crop(size, crop)
    if crop == "celeba":
        side = min(CELEBA_CROP, width, height)
    elif crop == "square":
        side = min(width, height)
    else:
        return None
    # torchvision CenterCrop's rounding, so CelebA crops match the reference pixel for pixel
    top = int(round((height - side) / 2.0))
    left = int(round((width - side) / 2.0))
    return left, top, left + side, top + side


def preprocess(img: Image.Image, img_size: int, crop: str = "auto") -> torch.Tensor:
    """(3, img_size, img_size) float32 in [-1, 1], as the reference's transform pipeline."""
    box = crop_box(img.size, crop)
    if box is not None and box != (0, 0, *img.size):
        img = img.crop(box)
    if img.size != (img_size, img_size):
        # what torchvision's TF.resize(BILINEAR) does with a PIL image, without importing torchvision
        img = img.resize((img_size, img_size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(_LEVELS[np.ascontiguousarray(arr.transpose(2, 0, 1))])


# The reference's ToTensor + Normalize(0.5, 0.5) for each of the 256 pixel levels, computed once with
# the same float32 torch ops; indexing this table gives identical floats ~10x faster per image.
_LEVELS = torch.arange(256, dtype=torch.uint8).to(torch.float32).div(255).sub_(0.5).div_(0.5).numpy()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] to an (H, W, 3) uint8 array, rounding like torchvision's save_image.

    The same float32 operations in numpy: torch would run them on its intra-op thread pool, whose
    threads then spin on the cores the inference engine is using (the writer thread calls this per row).
    """
    y = x.detach().cpu().float().numpy()
    y = np.clip((y + np.float32(1)) / np.float32(2), 0, 1)
    y = np.clip(y * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(y.transpose(1, 2, 0))


def encode_image(image: Image.Image, fh: IO[bytes], fmt: str) -> None:
    """PNG (fast compression: the writer must keep up with the generator), high-quality JPEG, or
    lossless WebP."""
    if fmt == "jpg":
        image.save(fh, format="JPEG", quality=95, subsampling=0)
    elif fmt == "webp":
        image.save(fh, format="WEBP", lossless=True)
    else:
        image.save(fh, format="PNG", compress_level=1)


ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a half-grey image
