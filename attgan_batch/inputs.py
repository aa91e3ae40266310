"""Photos given directly instead of a manifest: a folder (searched recursively), image files or
glob patterns, all edited the same way (``run PHOTOS --edit "Blond_Hair=1"``).

They become an ordinary manifest, written into the output folder's state folder, so validation,
resume, reports and every option work exactly as for a hand-written CSV. Each output mirrors the
photo's path relative to the folder it was found in.
"""
from __future__ import annotations

import csv
import glob
import io
from pathlib import Path, PurePosixPath
from typing import Iterable

from .errors import AttGANBatchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
MANIFEST_SUFFIXES = (".csv", ".tsv", ".txt")
GENERATED_MANIFEST = ".attgan-batch/inputs.csv"  # relative to --out
_GLOB = set("*?[")


def is_manifest(inputs: Iterable[str | Path]) -> bool:
    """One ``.csv`` / ``.tsv`` / ``.txt`` path (existing or not: its own error says so), or one
    existing file that is not an image: a manifest."""
    items = [Path(i) for i in inputs]
    if len(items) != 1 or _GLOB & set(str(items[0])):
        return False
    path = items[0]
    return path.suffix.lower() in MANIFEST_SUFFIXES or (path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES)


def collect_photos(inputs: Iterable[str | Path], exclude: Path | None = None) -> list[tuple[Path, str]]:
    """(photo, path relative to the folder it was given in) for every image the inputs name, sorted;
    ``exclude`` (the output folder) is never searched."""
    found: dict[Path, str] = {}
    skip = exclude.resolve() if exclude is not None else None
    for item in map(str, inputs):
        path = Path(item).expanduser()
        if path.is_dir():
            for photo in sorted(path.rglob("*")):
                if (photo.suffix.lower() in IMAGE_SUFFIXES and photo.is_file()
                        and not any(part.startswith(".") for part in photo.relative_to(path).parts)
                        and not (skip is not None and skip in photo.resolve().parents)):
                    found.setdefault(photo.resolve(), photo.relative_to(path).as_posix())
        elif _GLOB & set(item):
            for match in sorted(glob.glob(item, recursive=True)):
                photo = Path(match)
                if photo.is_file() and photo.suffix.lower() in IMAGE_SUFFIXES:
                    found.setdefault(photo.resolve(), photo.name)
        elif path.is_file():
            found.setdefault(path.resolve(), path.name)
        else:
            raise AttGANBatchError(f"{item}: no such file or folder; give a manifest CSV, a folder of photos, "
                                   "image files or a glob pattern")
    if not found:
        raise AttGANBatchError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    return sorted(found.items(), key=lambda item: item[1])


def output_name(relative: str) -> str:
    """The photo's relative path, as PNG unless it is a JPEG (the formats ``run`` writes)."""
    path = PurePosixPath(relative)
    return str(path if path.suffix.lower() in (".png", ".jpg", ".jpeg") else path.with_suffix(".png"))


def photos_manifest(photos: list[tuple[Path, str]], edit: str | None, source: str | None) -> str:
    """The CSV text of a manifest with one row per photo: id and output = its relative path."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "image", "edit", "source", "output"])
    for photo, relative in photos:
        writer.writerow([relative, str(photo), edit or "", source or "", output_name(relative)])
    return buf.getvalue()
