"""Sample grids during training, laid out like the reference's ``sample_training`` images.

One row per fixed validation image: input, reconstruction, then each attribute flipped (conflict
rules applied, the edited attribute at ``±test_int``), so progress on every attribute is visible.
Each column is captioned (``input``, ``recon``, the attribute), like ``run --grid``'s sheets.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..atomic import atomic_open
from ..attributes import apply_conflicts
from ..render import grid_image, stack_vertically
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
    labels = ["recon", *attrs]
    sheet = stack_vertically([grid_image(images[k].cpu(), torch.stack([c[k].cpu() for c in columns[1:]]), labels)
                              for k in range(images.shape[0])])
    with atomic_open(path, "wb", fsync=False) as fh:  # a lost sample costs nothing; a torn one misleads
        sheet.save(fh, format="PNG")
    return path
