"""An attribute classifier trained apart from the GAN, to judge edits without the GAN's own C.

AttGAN's critic carries a classifier head C that the generator is trained to satisfy, so C's
verdict on an edit is biased (the generator may have learned to fool it). This small CNN is
trained only on real images with BCE and is used by ``attgan-batch eval`` as an outside judge.
The saved file is a plain dict readable with ``torch.load(weights_only=True)``::

    {'classifier': state_dict, 'attrs': [...], 'img_size': int, 'arch': {...}, 'crop': str, 'val_accuracy': {...}}
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..atomic import atomic_open
from ..data.celeba import CelebAFormatDataset
from ..errors import AttGANBatchError
from ..model.config import DEFAULT_ATTRS


class ClassifierError(AttGANBatchError):
    """A classifier file that cannot be used."""


class AttributeClassifier(nn.Module):
    """Conv(3x3)+BN+ReLU layers (a stride-2 stem, then stride-2 stages down to 4x4), then one linear layer on the flattened
    map (kept spatial on purpose: beard and moustache share a colour and differ only in place)."""

    def __init__(self, n_attrs: int, img_size: int = 64, width: int = 16, max_width: int = 256):
        super().__init__()
        if img_size < 8 or img_size & (img_size - 1):
            raise ValueError(f"img_size must be a power of two >= 8, got {img_size}")
        layers: list[nn.Module] = []
        for cin, stride in ((3, 2), (width, 1)):  # stem: halve early, it keeps CPU training quick
            layers += [nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        channels, side = width, img_size // 2
        while side > 4:
            out = min(channels * 2, max_width)
            layers += [nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels, side = out, side // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels * 16, n_attrs))
        self.arch = {"n_attrs": n_attrs, "img_size": img_size, "width": width, "max_width": max_width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attribute logits (N, n_attrs) for images in [-1, 1]."""
        return self.head(self.features(x))


@dataclass
class LoadedClassifier:
    model: AttributeClassifier
    attrs: list[str]
    img_size: int
    crop: str = "auto"
    val_accuracy: dict[str, float] = field(default_factory=dict)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """0/1 predictions (N, n_attrs); resizes images of another size to the classifier's."""
        return predict(self.model, x, self.img_size, batch_size)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, img_size: int | None = None, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    out = []
    for chunk in x.split(batch_size):
        if img_size is not None and chunk.shape[-1] != img_size:
            chunk = nn.functional.interpolate(chunk, size=(img_size, img_size), mode="bilinear",
                                              antialias=True, align_corners=False)
        out.append((model(chunk) > 0).float())
    return torch.cat(out) if out else torch.zeros(0)


def save_classifier(path: str | Path, model: AttributeClassifier, attrs: Sequence[str], crop: str = "auto",
                    val_accuracy: dict[str, float] | None = None) -> Path:
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        torch.save({"classifier": model.state_dict(), "attrs": list(attrs), "img_size": model.arch["img_size"],
                    "arch": dict(model.arch), "crop": crop, "val_accuracy": dict(val_accuracy or {})}, fh)
    return path


def load_classifier(path: str | Path) -> LoadedClassifier:
    path = Path(path)
    if not path.is_file():
        raise ClassifierError(f"classifier file {path} does not exist; make one with `attgan-batch train-classifier`")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ClassifierError(f"cannot read classifier {path}: {exc}") from exc
    if not isinstance(raw, dict) or not {"classifier", "attrs", "arch"} <= set(raw):
        raise ClassifierError(f"{path} is not an attribute classifier saved by `attgan-batch train-classifier`")
    model = AttributeClassifier(**raw["arch"])
    model.load_state_dict(raw["classifier"])
    model.eval()
    return LoadedClassifier(model, list(raw["attrs"]), int(raw["img_size"]), str(raw.get("crop", "auto")),
                            dict(raw.get("val_accuracy", {})))


@torch.no_grad()
def accuracy(model: nn.Module, dataset: Dataset, batch_size: int = 128) -> torch.Tensor:
    """Per-attribute accuracy (n_attrs,) of ``model`` on a dataset of (image, 0/1 labels)."""
    model.eval()
    correct, total = None, 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        hits = ((model(x) > 0).float() == y).float().sum(0)
        correct = hits if correct is None else correct + hits
        total += len(y)
    if correct is None:
        return torch.zeros(0)
    return correct / total


@dataclass
class ClassifierResult:
    path: Path
    attrs: list[str]
    val_accuracy: dict[str, float]
    train_loss: float
    seconds: float


def train_classifier(
    data: str | Path, out: str | Path, attrs: Sequence[str] | None = None, epochs: int = 10,
    batch_size: int = 64, img_size: int = 64, seed: int = 0, lr: float = 2e-3, width: int = 16,
    crop: str = "auto", limit: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> ClassifierResult:
    """Train on the folder's train split (flip/shift augmentation), report val accuracy, save to ``out``.

    ``progress(step, total_steps, loss)`` is called after every batch.
    """
    attrs = list(attrs or DEFAULT_ATTRS)
    torch.manual_seed(seed)
    train_set = CelebAFormatDataset(data, attrs, "train", img_size, crop=crop, augment=True, cache=True, limit=limit)
    if len(train_set) == 0:
        raise ClassifierError(f"{data} has no training images (check list_eval_partition.txt)")
    val_set = CelebAFormatDataset(data, attrs, "val", img_size, crop=crop, cache=True, limit=limit)
    if len(val_set) == 0:  # no val split: score on the training images without augmentation
        val_set = CelebAFormatDataset(data, attrs, "train", img_size, crop=crop, cache=True, limit=limit)

    model = AttributeClassifier(len(attrs), img_size, width)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=total, pct_start=0.2)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    start, step, running = time.perf_counter(), 0, float("nan")
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            running = loss.item() if math.isnan(running) else 0.9 * running + 0.1 * loss.item()
            if progress:
                progress(step, total, running)
    acc = accuracy(model, val_set)
    val_accuracy = {a: float(v) for a, v in zip(attrs, acc)}
    path = save_classifier(out, model, attrs, crop, val_accuracy)
    return ClassifierResult(path, attrs, val_accuracy, running, time.perf_counter() - start)
