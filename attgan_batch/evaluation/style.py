"""Measure a style model (trained with ``--style``): does theta control what it should?

For test images with the styled attribute switched on (the reference's edit semantics) this reports:

* ``q_correlation``: Pearson correlation between sampled codes theta ~ U(-1, 1) and Q's prediction
  of them from the generated images (per code). Q is trained on exactly this, so it shows that the
  information is in the image, not what it looks like.
* ``frame_consistency``: an independent, model-free check of the *look*. For each face the sweep
  theta = -1..1 is rendered; the pixels the sweep changes are the styled region, and the
  region's mean colour is followed along the sweep. Per face we take the direction of the colour
  change from theta = -1 to +1; ``direction_agreement`` is the mean cosine between each face's
  direction and the average direction (1 = every face changes the same way), ``monotonic`` the
  fraction of faces whose colour moves monotonically along that average direction.
* a sweep grid PNG: one line per face, input then the sweep.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..attributes import parse_edit, plan_edit
from ..data.celeba import CelebAFormatDataset
from ..model import load_checkpoint
from ..render import STYLE_SWEEP_VALUES, grid_image, stack_vertically

CHUNK = 64  # images per generator call


def _generate(G, x: torch.Tensor, a: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return torch.cat([G(x[i:i + CHUNK], a[i:i + CHUNK], style[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp(min=1e-12))


def _switched_on(labels: torch.Tensor, attrs: list[str], attr: str, thres_int: float, test_int: float) -> torch.Tensor:
    """Scaled target vectors with ``attr`` on (conflict rules applied), one per image."""
    spec = parse_edit(f"{attr}=1", attrs)
    rows = [plan_edit([int(v) for v in row.tolist()], spec, attrs, thres_int=thres_int, test_int=test_int).scaled
            for row in labels]
    return torch.tensor(rows, dtype=torch.float32)


@torch.inference_mode()
def evaluate_style(checkpoint: str | Path, data: str | Path, attr: str, *, split: str = "test", limit: int = 200,
                   grid_faces: int = 8, grid_path: str | Path | None = None, seed: int = 0,
                   test_int: float | None = None) -> dict[str, Any]:
    loaded = load_checkpoint(checkpoint, with_discriminator=True)
    s = loaded.settings
    if attr not in s.style:
        raise ValueError(f"{checkpoint} has no style controllers for {attr} (styled: {', '.join(s.style) or 'none'})")
    if loaded.discriminator is None:
        raise ValueError(f"{checkpoint} holds no discriminator; Q lives in D, so evaluate a full training checkpoint")
    G, D = loaded.generator, loaded.discriminator
    dataset = CelebAFormatDataset(data, s.attrs, split, s.img_size, limit=limit)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.stack([dataset[i][1] for i in range(len(dataset))])
    a = _switched_on(labels, s.attrs, attr, s.thres_int, test_int if test_int is not None else s.test_int)
    sl = s.style_slices()[attr]
    gen = torch.Generator().manual_seed(seed)

    theta = torch.zeros(len(x), s.n_style)
    theta[:, sl] = torch.rand(len(x), sl.stop - sl.start, generator=gen) * 2 - 1
    fakes = _generate(G, x, a, theta)
    q = torch.cat([D.heads(fakes[i:i + CHUNK])[2] for i in range(0, len(x), CHUNK)])
    q_corr = [_pearson(theta[:, j], q[:, j]) for j in range(sl.start, sl.stop)]

    consistency = []
    for j in range(sl.start, sl.stop):
        frames = []
        for value in STYLE_SWEEP_VALUES:
            codes = torch.zeros(len(x), s.n_style)
            codes[:, j] = value
            frames.append(_generate(G, x, a, codes))
        sweep = torch.stack(frames, 1)                                    # (N, V, 3, H, W)
        changed = (sweep.amax(1) - sweep.amin(1)).abs().amax(1) > 0.25    # (N, H, W): the styled region
        area = changed.flatten(1).sum(1).clamp(min=1)
        colour = (sweep * changed[:, None, None]).flatten(3).sum(3) / area[:, None, None]  # (N, V, 3)
        direction = colour[:, -1] - colour[:, 0]
        mean_dir = direction.mean(0)
        unit = mean_dir / mean_dir.norm().clamp(min=1e-12)
        cos = (direction @ unit) / direction.norm(dim=1).clamp(min=1e-12)
        along = colour @ unit                                              # (N, V)
        monotonic = ((along[:, 1:] - along[:, :-1]) >= -0.02).all(1).float().mean()
        consistency.append({"code": j - sl.start, "direction_agreement": round(float(cos.mean()), 4),
                            "monotonic": round(float(monotonic), 4),
                            "mean_rgb_change": [round(float(v), 4) for v in mean_dir / 2],  # in [0, 1] units
                            "changed_pixels": round(float(changed.float().mean()), 4)})
        if grid_path is not None and j == sl.start:
            lines = [grid_image(x[i], sweep[i], [f"s{j - sl.start}={v:g}" for v in STYLE_SWEEP_VALUES])
                     for i in range(min(grid_faces, len(x)))]
            path = Path(grid_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            stack_vertically(lines).save(path)
    return {"checkpoint": str(loaded.weights_path), "attribute": attr, "codes": s.style[attr],
            "images": len(x), "split": split, "q_correlation": [round(c, 4) for c in q_corr],
            "frame_consistency": consistency, "grid": str(grid_path) if grid_path else None}
