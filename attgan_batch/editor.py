"""The Python API: load a checkpoint once, then turn (image, edit) pairs into edited images.

    >>> from attgan_batch import Editor
    >>> editor = Editor.from_checkpoint("path/to/experiment")          # or None: the demo model
    >>> [out] = editor.edit(["face.png"], ["Blond_Hair=1"], sources=["0,0,1,0,0,0,0,1,0,0,1,0,1"])
    >>> out.save("blond.png")

The batch pipeline (:mod:`attgan_batch.pipeline`) uses the same planning and inference methods.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from .attributes import (EditPlan, EditSpec, parse_edit, parse_style, parse_vector, plan_edit, plan_flip_each,
                         plan_target)
from .data.images import load_rgb, preprocess, to_uint8
from .defaults import default_checkpoint
from .engines import Backend, TorchBackend
from .errors import RowError
from .model import Discriminator, LoadedCheckpoint, load_checkpoint
from .model.checkpoint import load_discriminator


@dataclass
class SourcePrediction:
    labels: list[int]
    confidences: list[float]  # probability of the predicted label, per attribute


@dataclass
class Editor:
    checkpoint: LoadedCheckpoint
    backend: Backend
    conflicts: str = "resolve"
    rules: str = "reference"
    crop: str = "auto"
    _discriminator: Discriminator | None = field(default=None, repr=False)
    _discriminator_checked: bool = field(default=False, repr=False)
    # a classifier_source.ClassifierSource: predicts missing sources instead of D's head (--classifier)
    source_classifier: Any = field(default=None, repr=False)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, *, device: str = "auto",
                        backend: Backend | None = None, **options) -> "Editor":
        """Load ``path`` (None: the bundled demo model) and run it with the eager torch backend."""
        loaded = load_checkpoint(default_checkpoint(path))
        return cls(loaded, backend or TorchBackend(loaded.generator, device), **options)

    # ------------------------------------------------------------------ facts
    @property
    def attrs(self) -> list[str]:
        return self.checkpoint.attrs

    @property
    def img_size(self) -> int:
        return self.checkpoint.settings.img_size

    # ------------------------------------------------------------------ planning
    def plans(self, *, edit: str | EditSpec | None = None, target: Sequence[int] | str | None = None,
              source: Sequence[int] | str | None = None, intensity: float | None = None,
              style: str | dict[str, list[float]] | None = None) -> list[EditPlan]:
        """The generator inputs for one row (several for ``flip-each``). Needs a known ``source``
        except for a full ``target``. ``style`` (``Eyeglasses=0.3,-0.8``) needs a style model."""
        codes = self.style_vector(style)
        return [dataclasses.replace(p, style=codes) if codes is not None else p
                for p in self._plans(edit, target, source, intensity)]

    def reconstruction_plan(self, source: Sequence[int] | str) -> EditPlan:
        """``G(x, a)``, the source fed back unchanged: what ``--grid`` shows and ``--compose residual``
        subtracts from the edit."""
        return dataclasses.replace(self.plans(source=source)[0], label="recon")

    def style_vector(self, style: str | dict[str, list[float]] | None) -> list[float] | None:
        """The style codes a style model is fed (zeros where not given); None for a plain model."""
        s = self.checkpoint.settings
        if isinstance(style, str):
            style = parse_style(style, self.attrs)
        if not s.n_style:
            if style:
                raise RowError("this checkpoint has no style controllers (it was trained without --style); "
                               "remove the style column or use a style model")
            return None
        codes = [0.0] * s.n_style
        have = ", ".join(f"{n} ({d} code{'s' * (d > 1)})" for n, d in s.style.items())
        for name, values in (style or {}).items():
            if name not in s.style:
                raise RowError(f"style: this model has no style controllers for {name}; it has {have}")
            if len(values) != s.style[name]:
                raise RowError(f"style: {name} takes {s.style[name]} code(s), got {len(values)}")
            codes[s.style_slices()[name]] = values
        return codes

    def format_style(self, codes: Sequence[float] | None) -> str:
        """Style codes as the manifest writes them (``Eyeglasses=0.3,-0.8``), for the report."""
        if codes is None:
            return ""
        s = self.checkpoint.settings
        return ";".join(f"{name}=" + ",".join(f"{v:g}" for v in codes[sl]) for name, sl in s.style_slices().items())

    def inputs(self, plans: Sequence[EditPlan]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(scaled attributes (N, n_attrs), style codes (N, n_style) or None) for a batch of plans."""
        a = torch.tensor([p.scaled for p in plans], dtype=torch.float32)
        n_style = self.checkpoint.settings.n_style
        if not n_style:
            return a, None
        return a, torch.tensor([p.style if p.style is not None else [0.0] * n_style for p in plans],
                               dtype=torch.float32)

    def _plans(self, edit, target, source, intensity) -> list[EditPlan]:
        s = self.checkpoint.settings
        names = self.attrs
        if isinstance(source, str):
            source = parse_vector(source, names, "source")
        if isinstance(target, str):
            target = parse_vector(target, names, "target")
        if isinstance(edit, str) or edit is None:
            edit = parse_edit(edit, names) if target is None else None
        test_int = intensity if intensity is not None else s.test_int
        common = dict(thres_int=s.thres_int, test_int=test_int, conflicts=self.conflicts, rules=self.rules)
        if target is not None:
            return [plan_target(source, target, names, **common)]
        if source is None:
            raise RowError(
                "no source attributes: add a 'source' column (the image's current attributes), or use a "
                "checkpoint that includes the discriminator (a full training save) so they can be predicted"
            )
        if edit.flip_each:
            return plan_flip_each(source, names, **common)
        return [plan_edit(source, edit, names, **common)]

    # ------------------------------------------------------------------ source prediction
    def discriminator(self) -> Discriminator | None:
        """D with its classifier head, loaded on first use (published {'G'} files have none)."""
        if not self._discriminator_checked:
            self._discriminator_checked = True
            self._discriminator = self.checkpoint.discriminator or load_discriminator(self.checkpoint)
        return self._discriminator

    @torch.inference_mode()
    def predict_source(self, images: torch.Tensor) -> list[SourcePrediction]:
        """Source attributes of preprocessed images from D's classifier head (C)."""
        if self.source_classifier is not None:
            return self.source_classifier.predict(images)
        d = self.discriminator()
        if d is None:
            raise RowError(
                "no source attributes given and the checkpoint has no discriminator to predict them "
                "(published weights hold only G); add a 'source' column to the manifest"
            )
        probs = torch.sigmoid(d(images)[1])
        out = []
        for p in probs:
            labels = [int(v > 0.5) for v in p.tolist()]
            out.append(SourcePrediction(labels, [v if lab else 1 - v for v, lab in zip(p.tolist(), labels)]))
        return out

    # ------------------------------------------------------------------ inference
    def load(self, image: str | Path | Image.Image) -> torch.Tensor:
        img = image if isinstance(image, Image.Image) else load_rgb(image)
        return preprocess(img.convert("RGB"), self.img_size, self.crop)

    def generate(self, images: torch.Tensor, scaled: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Run the generator backend on a batch; inputs/outputs in [-1, 1]."""
        if style is None:
            return self.backend.infer(images, scaled)
        return self.backend.infer(images, scaled, style)

    def edit(self, images: Sequence[str | Path | Image.Image], edits: Sequence[str | None],
             sources: Sequence[str | Sequence[int] | None] | None = None, align=None,
             styles: Sequence[str | None] | None = None, compose: str = "auto") -> list[Image.Image]:
        """Edit a few images in memory (the batch job for many files is ``pipeline.run_manifest``).

        Args:
            images: file paths or PIL images.
            edits: one edit string per image (``Blond_Hair=1;Young=0``, ``Eyeglasses=flip``,
                ``flip-each``; None = reconstruction).
            sources: each image's current attributes (a 13-value vector or ``0,1,...`` text);
                None predicts them with the checkpoint's discriminator.
            align: an ``AlignOptions`` for real photos: faces detected, aligned, edited and pasted
                back at full resolution (:mod:`attgan_batch.align`).
            styles: style codes per image for style models (``Eyeglasses=0.3,-0.8``).
            compose: ``replace`` (the generator's image), ``residual`` (the input plus what the
                edit changes, ``x + G(x, b) - G(x, a)``) or ``auto`` (residual for ``align``,
                replace otherwise), as ``run --compose``; a ``flip-each`` grid stays a grid.

        Returns:
            One PIL image per input, at model resolution (a labelled grid for ``flip-each``), or
            the whole photo with ``align``.

        Raises:
            RowError: an edit, source or style does not fit this checkpoint.
        """
        from .render import grid_image
        from .residual import residual, uses_residual

        with_residual = uses_residual(compose, align is not None)
        if align is not None:
            from .align.api import edit_photos
            return edit_photos(self, images, edits, sources, align, styles, residual=with_residual)

        xs = torch.stack([self.load(img) for img in images])
        sources = list(sources) if sources is not None else [None] * len(xs)
        styles = list(styles) if styles is not None else [None] * len(xs)
        plans_per_image, recon_added = [], []
        for i, (edit, source, style) in enumerate(zip(edits, sources, styles)):
            if source is None:
                source = self.predict_source(xs[i:i + 1])[0].labels
            plans = self.plans(edit=edit, source=source, style=style)
            recon_added.append(with_residual and len(plans) == 1)
            if recon_added[-1]:  # the reconstruction rides along: x + edit - recon
                plans = plans + [self.reconstruction_plan(source)]
            plans_per_image.append(plans)
        flat_x = torch.cat([xs[i:i + 1].expand(len(p), -1, -1, -1) for i, p in enumerate(plans_per_image)])
        ys = self.generate(flat_x, *self.inputs([pl for p in plans_per_image for pl in p]))
        results, k = [], 0
        for i, plans in enumerate(plans_per_image):
            outs = ys[k:k + len(plans)]
            k += len(plans)
            if recon_added[i]:
                results.append(Image.fromarray(to_uint8(residual(xs[i], outs[0], outs[1]))))
            elif len(plans) == 1:
                results.append(Image.fromarray(to_uint8(outs[0])))
            else:
                results.append(grid_image(xs[i], outs, [p.label for p in plans]))
        return results
