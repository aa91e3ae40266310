"""Sample grids during training, laid out like the reference's ``sample_training`` images.

One row per fixed validation image: input, reconstruction, then each attribute flipped (conflict
rules applied, the edited attribute at ``±test_int``), so progress on every attribute is visible.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image

from ..atomic import atomic_open
from ..attributes import apply_conflicts
from .targets import scale


def sample_vectors(att_a: torch.Tensor, attrs: list[str], thres_int: float, test_int: float) -> list[torch.Tensor]:
    """Scaled vectors: reconstruction, then one flip per attribute (as the reference train.py)."""
    vectors = [scale(att_a.float(), thres_int)]
    for i, name in enumerate(attrs):
        rows = []
        for labels in att_a.long().tolist():
            labels[i] = 1 - labels[i]
            apply_conflicts(labels, name, attrs)
            rows.append(labels)
        b = scale(torch.tensor(rows, dtype=torch.float32, device=att_a.device), thres_int)
        b[:, i] = b[:, i] * test_int / thres_int
        vectors.append(b)
    return vectors


@torch.no_grad()
def save_grid(generator: torch.nn.Module, images: torch.Tensor, att_a: torch.Tensor, attrs: list[str],
              thres_int: float, test_int: float, path: Path) -> Path:
    """Write the grid PNG atomically; the generator is put back in its previous mode."""
    was_training = generator.training
    generator.eval()
    try:
        columns = [images] + [generator(images, b).float() for b in sample_vectors(att_a, attrs, thres_int, test_int)]
    finally:
        generator.train(was_training)
    grid = torch.cat(columns, dim=3)
    with atomic_open(path, "wb", fsync=False) as fh:  # a lost sample costs nothing; a torn one misleads
        save_image(grid.cpu(), fh, nrow=1, normalize=True, value_range=(-1.0, 1.0), format="png")
    return path
