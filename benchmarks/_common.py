"""Helpers shared by the benchmark scripts (not part of the package, not run by CI)."""
from __future__ import annotations

import csv
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from attgan_batch.model import AttGANSettings, Generator

SOURCE_13 = "0,1,1,0,0,0,0,1,0,0,1,0,1"


def default_checkpoint(folder: Path, img_size: int = 128, seed: int = 0) -> Path:
    """A randomly initialised default-width generator saved in the reference format."""
    torch.manual_seed(seed)
    settings = AttGANSettings(img_size=img_size)
    (folder / "checkpoint").mkdir(parents=True, exist_ok=True)
    (folder / "setting.txt").write_text(settings.to_json())
    torch.save({"G": Generator.from_settings(settings).state_dict()}, folder / "checkpoint" / "weights.1.pth")
    return folder


def face_images(folder: Path, n: int, size: int = 128, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i:04d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def manifest(path: Path, images: list[Path], rows: int, edit: str = "Blond_Hair=1") -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit"])
        for i in range(rows):
            writer.writerow([f"r{i}", str(images[i % len(images)]), SOURCE_13, edit])
    return path


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, list[float]]:
    """Seconds of each call per function, timing them in alternation (A B C A B C ...) after one
    warm-up each, so drifting load on a shared machine hits every contender alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """Median seconds per function (see interleaved_times)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(fns, repeats).items()}
