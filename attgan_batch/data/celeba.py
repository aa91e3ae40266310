"""CelebA-format datasets: aligned CelebA, CelebA-HQ, or any folder with a CelebA attribute file.

The attribute file (``list_attr_celeba.txt``) is a count line, a line of names, then
``filename v1 .. vN`` with ±1 labels. Columns are looked up by *name*, so a model trained on 13
attributes reads them from the 40-column CelebA file, a 40-column HQ file, or a synthetic set.
Labels come back as 0/1 float tensors, images as (3, S, S) floats in [-1, 1] preprocessed like the
reference (CelebA: centre crop 170 then resize; everything else: resize only).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .attr_file import (  # noqa: F401  (re-exported: the format lives with the dataset for callers)
    AttrTable, DatasetError, column_index, read_attr_file, read_partition, write_attr_file, write_partition,
)
from .images import CROPS, load_rgb, preprocess

ATTR_FILES = ("list_attr_celeba.txt", "CelebAMask-HQ-attribute-anno.txt", "list_attr_celeba.csv")
IMAGE_DIRS = ("img_align_celeba", "images", "CelebA-HQ-img", "CelebA-HQ", "img")
PARTITION_FILE = "list_eval_partition.txt"
SPLIT_CODES = {"train": 0, "val": 1, "valid": 1, "test": 2}
CELEBA_BOUNDS = (182000, 182637)  # the reference: train [:182000], valid [182000:182637], test the rest
CELEBA_HQ_BOUNDS = (28000, 28500)  # the reference's CelebA-HQ split


# ----------------------------------------------------------------------------- folder layout

def find_attr_file(root: Path) -> Path:
    for name in ATTR_FILES:
        if (root / name).is_file():
            return root / name
    for candidate in sorted(root.glob("*.txt")):
        if "attr" in candidate.name.lower():
            return candidate
    raise DatasetError(
        f"no attribute file in {root}: expected one of {', '.join(ATTR_FILES)} "
        "(CelebA format: a count line, the names, then 'filename v1 .. vN' with ±1); name it with --attr-file (Python: attr_file=)"
    )


def find_image_dir(root: Path, first_file: str | None) -> Path:
    for name in IMAGE_DIRS:
        folder = root / name
        if folder.is_dir() and (first_file is None or (folder / first_file).exists()):
            return folder
    if first_file is None or (root / first_file).exists():
        return root
    raise DatasetError(
        f"cannot find the images of {root}: looked for {first_file!r} in {', '.join(IMAGE_DIRS)} and the folder "
        "itself; name it with --image-dir (Python: image_dir=)"
    )


def split_indices(n: int, split: str, attr_file: Path) -> range:
    """The reference's index split when no partition file exists (proportional for other sizes)."""
    if n >= CELEBA_BOUNDS[1]:
        a, b = CELEBA_BOUNDS
    elif "hq" in attr_file.name.lower() and n >= CELEBA_HQ_BOUNDS[1]:
        a, b = CELEBA_HQ_BOUNDS
    else:
        a, b = int(round(n * 0.9)), int(round(n * 0.95))
    return {"train": range(0, a), "val": range(a, b), "valid": range(a, b), "test": range(b, n), "all": range(n)}[split]


# ----------------------------------------------------------------------------- the dataset

class CelebAFormatDataset(Dataset):
    """(image, labels) pairs from a CelebA-format folder; labels are 0/1 floats in ``attrs`` order.

    ``split``: train / val (valid) / test / all. ``crop``: 'celeba' (centre crop 170, the aligned
    CelebA preprocessing), 'none' (resize only), or 'auto'/'square' as in inference.
    ``augment``: random horizontal flip and a small random translation (reflect-padded crop).
    ``cache``: decode every image once and keep it in memory (small sets, CPU training).
    """

    def __init__(
        self, root: str | Path, attrs: Sequence[str], split: str = "train", img_size: int = 128,
        crop: str = "celeba", augment: bool = False, image_dir: str | Path | None = None,
        attr_file: str | Path | None = None, partition_file: str | Path | None = None,
        cache: bool = False, limit: int | None = None,
    ) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DatasetError(f"dataset folder {root} does not exist")
        if split not in (*SPLIT_CODES, "all"):
            raise DatasetError(f"unknown split {split!r}; expected train, val, test or all")
        if crop not in CROPS:
            raise DatasetError(f"unknown crop {crop!r}; expected one of {CROPS}")
        self.attrs = list(attrs)
        self.img_size = int(img_size)
        self.crop = crop
        self.augment = augment
        self.attr_file = Path(attr_file) if attr_file else find_attr_file(root)
        table = read_attr_file(self.attr_file)
        labels = table.columns(self.attrs)
        self.image_dir = Path(image_dir) if image_dir else find_image_dir(root, table.files[0] if table.files else None)

        partition = Path(partition_file) if partition_file else root / PARTITION_FILE
        if split == "all":
            keep = list(range(len(table.files)))
        elif partition.is_file():
            codes = read_partition(partition)
            keep = [i for i, f in enumerate(table.files) if codes.get(f) == SPLIT_CODES[split]]
        else:
            keep = list(split_indices(len(table.files), split, self.attr_file))
        if limit is not None:
            keep = keep[: max(0, int(limit))]
        self.files = [table.files[i] for i in keep]
        self.labels = torch.from_numpy(labels[keep].astype(np.float32))
        self._cache: list[torch.Tensor | None] | None = [None] * len(self.files) if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> Path:
        return self.image_dir / self.files[index]

    def _load(self, index: int) -> torch.Tensor:
        if self._cache is not None and self._cache[index] is not None:
            return self._cache[index].float().div(127.5).sub(1.0)
        x = preprocess(load_rgb(self.path(index)), self.img_size, self.crop)
        if self._cache is not None:  # values are k/255 exactly, so uint8 round-trips losslessly
            self._cache[index] = x.add(1.0).mul(127.5).round().to(torch.uint8)
        return x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._load(index)
        if self.augment:
            x = augment_image(x)
        return x, self.labels[index].clone()


def augment_image(x: torch.Tensor, max_shift: int | None = None) -> torch.Tensor:
    """Random horizontal flip and a shift of up to size/16 px (reflect padding keeps the edges natural)."""
    if torch.rand(()) < 0.5:
        x = x.flip(-1)
    pad = max_shift if max_shift is not None else max(1, x.shape[-1] // 16)
    padded = torch.nn.functional.pad(x.unsqueeze(0), (pad, pad, pad, pad), mode="reflect").squeeze(0)
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
    return padded[:, dy:dy + x.shape[-2], dx:dx + x.shape[-1]].contiguous()
