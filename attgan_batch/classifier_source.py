"""``--classifier``: predict a row's missing source attributes with a standalone classifier.

Published AttGAN weights hold only G, so D's classifier head is not there to say what a photo
already shows. A classifier saved by ``attgan-batch train-classifier`` (see
:mod:`attgan_batch.training.classifier`) fills that gap. Its attributes are matched to the
model's by name, so its order and extra attributes do not matter; a model attribute it lacks is
a setup error, because a source vector must be complete.
"""
from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .editor import SourcePrediction
from .errors import AttGANBatchError


class ClassifierSource:
    """Source predictions for the model's attributes, from a loaded standalone classifier."""

    def __init__(self, loaded, attrs: Sequence[str], path: Path):
        self.loaded, self.attrs, self.path = loaded, list(attrs), Path(path)
        by_name = {a.lower(): i for i, a in enumerate(loaded.attrs)}
        missing = [a for a in self.attrs if a.lower() not in by_name]
        if missing:
            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, loaded.attrs, n=1)
                hints.append(f"{name} (closest: {close[0]})" if close else name)
            raise AttGANBatchError(
                f"--classifier {path} does not predict {', '.join(hints)}; the model needs all of "
                f"{', '.join(self.attrs)}. Train one with `attgan-batch train-classifier --attrs ...`"
            )
        self.index = [by_name[a.lower()] for a in self.attrs]

    @classmethod
    def load(cls, path: str | Path, attrs: Sequence[str]) -> "ClassifierSource":
        from .training.classifier import ClassifierError, load_classifier

        try:
            loaded = load_classifier(path)
        except ClassifierError as exc:
            raise AttGANBatchError(f"--classifier: {exc}") from exc
        except (RuntimeError, TypeError, KeyError, ValueError) as exc:  # shapes or arch that do not fit
            raise AttGANBatchError(f"--classifier {path} cannot be loaded: {exc}") from exc
        return cls(loaded, attrs, Path(path))

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> list[SourcePrediction]:
        """Labels and confidences (probability of the predicted label) for images in [-1, 1]."""
        model = self.loaded.model.eval()
        size = self.loaded.img_size
        if images.shape[-1] != size or images.shape[-2] != size:
            images = nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                               align_corners=False)
        device = next(model.parameters()).device
        probs = torch.sigmoid(model(images.to(device, torch.float32)))[:, self.index].cpu()
        out = []
        for p in probs.tolist():
            labels = [int(v > 0.5) for v in p]
            out.append(SourcePrediction(labels, [v if lab else 1 - v for v, lab in zip(p, labels)]))
        return out

    def describe(self) -> dict[str, Any]:
        """For report.json: which file predicted the sources, and how well it scored when trained."""
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path.is_file() else ""
        acc = self.loaded.val_accuracy
        return {"path": str(self.path), "sha256": digest, "attrs": self.loaded.attrs,
                "img_size": self.loaded.img_size,
                "val_accuracy": {a: round(acc[a], 4) for a in self.attrs if a in acc}}
