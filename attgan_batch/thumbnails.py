"""Small JPEG thumbnails of each row's input and output, for ``report.html``.

They are made on the writer thread from the images already in memory (decoding a finished
40-megapixel output again at report time would cost far more), and kept in the run's state
folder so a resumed run's report still shows the rows an earlier run did. Inputs live outside
``--out``, so the report embeds these copies rather than linking to the originals.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .data.images import load_rgb
from .atomic import OutputDir
from .report import STATE_DIR, THUMBS_DIR, state_dir

THUMB_SIDE = 96          # longest side of an input/output thumbnail
GRID_THUMB_WIDTH = 768   # a flip-each grid keeps its height of THUMB_SIDE up to this width
JPEG_QUALITY = 80


def thumbs_dir(out_dir: Path) -> Path:
    return state_dir(out_dir) / THUMBS_DIR


def thumb_name(row_id: str, kind: str) -> str:
    """Row ``row_id``'s ``kind`` ('in' or 'out') thumbnail, relative to ``--out`` (ids may hold any character)."""
    digest = hashlib.sha1(row_id.encode("utf-8")).hexdigest()[:20]
    return f"{STATE_DIR}/{THUMBS_DIR}/{digest}.{kind}.jpg"


def thumb_path(out_dir: Path, row_id: str, kind: str) -> Path:
    return Path(out_dir) / thumb_name(row_id, kind)


def thumbnail_bytes(image: Image.Image | np.ndarray | torch.Tensor) -> bytes:
    """JPEG bytes of ``image`` shrunk to THUMB_SIDE (wide grids keep their height)."""
    if isinstance(image, torch.Tensor):  # numpy, not torch ops: no intra-op threads to wake per row
        arr = image.detach().cpu().numpy().transpose(1, 2, 0)
        image = np.clip(arr * 127.5 + 128.0, 0, 255).astype(np.uint8)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("RGB")
    width, height = image.size
    if width > 2 * height:  # a labelled grid: readable strip
        box = (GRID_THUMB_WIDTH, THUMB_SIDE)
    else:
        box = (THUMB_SIDE, THUMB_SIDE)
    image = image.copy()
    image.thumbnail(box, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def write_thumbnails(out: OutputDir, row_id: str, source, output: Image.Image, extra: dict | None = None) -> None:
    """Thumbnails of a finished row: its input (the whole photo under ``--align``, else the model
    input) and its output. Atomic (never a torn thumbnail) but not fsynced: a lost thumbnail costs
    nothing, an fsync per row would cost the writer thread real time on slow disks. Never fails
    the row: a report without a picture is fine."""
    try:
        out.write(thumb_name(row_id, "in"), thumbnail_bytes(source), fsync=False)
        out.write(thumb_name(row_id, "out"), thumbnail_bytes(output), fsync=False)
        for kind, image in (extra or {}).items():  # "grid"; "face-in" / "face-out" under --align
            out.write(thumb_name(row_id, kind), thumbnail_bytes(image), fsync=False)
    except Exception:  # noqa: BLE001 - thumbnails are decoration; the row is already written
        pass


def input_thumbnail(record_input: str, max_pixels: int = 64_000_000) -> bytes | None:
    """A thumbnail made from an input file at report time (rows that failed before the writer)."""
    try:
        path = Path(record_input)
        if not path.is_file():
            return None
        with Image.open(path) as probe:  # JPEG draft mode: decode at 1/8 scale when it is enough
            if probe.size[0] * probe.size[1] > max_pixels:
                return None
            if probe.format == "JPEG":
                probe.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
                probe.load()
                return thumbnail_bytes(ImageOps.exif_transpose(probe))
        return thumbnail_bytes(load_rgb(path, max_pixels))
    except Exception:  # noqa: BLE001 - an unreadable input simply gets no picture
        return None
