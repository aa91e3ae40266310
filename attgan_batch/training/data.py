"""Datasets and the training DataLoader for a CelebA-format folder (real CelebA or synthetic)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.celeba import CelebAFormatDataset, DatasetError
from ..model.config import AttGANSettings
from .config import TrainConfig
from .sampling import ResumableSampler, SeededSamples


def _dataset(config: TrainConfig, settings: AttGANSettings, split: str, augment: bool) -> Dataset:
    return CelebAFormatDataset(
        config.data, settings.attrs, split, settings.img_size, crop=config.crop, augment=augment,
        image_dir=config.image_dir, attr_file=config.attr_file, cache=config.cache,
    )


def build_datasets(config: TrainConfig, settings: AttGANSettings) -> tuple[Dataset, Dataset]:
    """(train split, images for sample grids: the valid split, else test, else train without augmentation)."""
    if config.data is None:
        raise ValueError("no training data: pass --data DIR (a CelebA-format folder) or give the Trainer a dataset")
    if not Path(config.data).is_dir():
        raise ValueError(f"--data {config.data} is not a folder; expected images + list_attr_celeba.txt")
    train = _dataset(config, settings, "train", config.augment)
    for split in ("valid", "test", "train"):
        try:
            samples = _dataset(config, settings, split, False)
        except (DatasetError, ValueError, FileNotFoundError):
            continue
        if len(samples) > 0:  # type: ignore[arg-type]
            return train, samples
    return train, train


def fixed_samples(dataset: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` items (deterministic, no RNG drawn) for the sample grids."""
    n = min(n, len(dataset))  # type: ignore[arg-type]
    items = [dataset[i] for i in range(n)]
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.stack([torch.as_tensor(a) for _, a in items]).float()


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, rank: int, world: int,
                 pin_memory: bool) -> tuple[DataLoader, ResumableSampler, SeededSamples]:
    """Shuffled, drop_last (as the reference), resumable at any batch, sharded over ranks."""
    seeded = SeededSamples(dataset, seed)
    sampler = ResumableSampler(seeded, num_replicas=world, rank=rank, seed=seed)
    loader = DataLoader(
        seeded, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=True,
        pin_memory=pin_memory, generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0,  # keeps each worker's decoded-image cache across epochs
    )
    return loader, sampler, seeded
