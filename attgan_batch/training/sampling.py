"""Data order and per-sample randomness that can be resumed exactly, on one process or many.

The order of an epoch is a pure function of (seed, epoch) - ``DistributedSampler``'s rule - so a
resumed run only has to skip the batches it already consumed. Augmentation randomness is drawn
from a generator seeded by (seed, epoch, index), so it does not depend on worker count, worker
scheduling or where the run was interrupted, and it never touches the training loop's RNGs.
"""
from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """A DistributedSampler (also used with one process) that can start part-way into an epoch."""

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start = 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Epoch to draw, and how many of this rank's samples to skip (batches done x batch size)."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """(epoch, index) pairs: the epoch travels with each index, also into persistent workers."""
        return iter([(self.epoch, i) for i in list(super().__iter__())[self.start:]])

    def __len__(self) -> int:
        return self.num_samples - self.start


class SeededSamples(Dataset):
    """Wraps a dataset so each item's random draws are seeded by (seed, epoch, index).

    Accepts a plain index (uses :meth:`set_epoch`'s epoch) or the sampler's (epoch, index) pair.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        item_seed = ((self.seed * 1_000_003 + epoch) * 10_000_019 + index) % 2**63
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            random.seed(item_seed)
            np.random.seed(item_seed % 2**32)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
