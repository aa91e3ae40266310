"""Decode, preprocess and encode images exactly as the reference does, defensively.

Decoding refuses decompression bombs before any pixel is decoded, honours EXIF orientation, and
converts odd modes (grayscale, palette, RGBA, CMYK, 16-bit) to RGB. Preprocessing follows the
reference: optional CelebA centre crop (170 px), resize to the model size, ToTensor, Normalize(0.5,
0.5). Encoding mirrors ``torchvision.utils.save_image(normalize=True, value_range=(-1, 1))``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..atomic import atomic_open
from ..errors import RowError

CROPS = ("auto", "celeba", "square", "none")
CELEBA_ALIGNED_SIZE = (178, 218)  # width, height of img_align_celeba files
CELEBA_CROP = 170
DEFAULT_MAX_PIXELS = 64_000_000  # ~8000 x 8000; larger files are refused as likely decompression bombs


def load_rgb(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``path`` to an RGB image, or raise RowError saying what is wrong with the file."""
    path = Path(path)
    if not path.exists():
        raise RowError(f"image not found: {path}")
    if path.is_dir():
        raise RowError(f"image path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise RowError(f"image file is empty (0 bytes): {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise RowError(
                        f"image {path} is {width}x{height} = {width * height:,} pixels, above the limit of "
                        f"{max_pixels:,} (a possible decompression bomb); resize it or raise --max-pixels"
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
    except RowError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RowError(f"image {path} refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise RowError(f"not an image file PIL can read (wrong extension or corrupt): {path}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise RowError(f"image {path} is corrupt or truncated: {exc}") from exc


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray((arr / top * 255.0 + 0.5).clip(0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def crop_box(size: tuple[int, int], crop: str) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) box ``crop`` selects, or None for no crop."""
    width, height = size
    if crop == "auto":
        crop = "celeba" if size == CELEBA_ALIGNED_SIZE else "square"
    if crop == "celeba":
        side = min(CELEBA_CROP, width, height)
    elif crop == "square":
        side = min(width, height)
    elif crop == "none":
        return None
    else:
        raise ValueError(f"unknown crop {crop!r}; expected one of {CROPS}")
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


def save_atomic(image: Image.Image, path: Path, fmt: str) -> None:
    """Encode ``image`` into a temp file beside ``path``, then rename: no partial file ever."""
    with atomic_open(path, "wb") as fh:
        if fmt == "jpg":
            image.save(fh, format="JPEG", quality=95, subsampling=0)
        else:
            image.save(fh, format="PNG", compress_level=1)


ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a half-grey image
