"""From a manifest row to generator inputs: decode the image, plan every image the row asks for.

A row becomes a :class:`RowJob`: one :class:`FaceWork` per face (one for a plain image; one per
aligned face under ``--align``), each with its plans in the order the generator sees them (the
row's edit(s), then ``--grid``'s reconstruction, then ``--style-sweep``'s codes). The scheduler
batches ``(job, k)`` pairs, the writer composes the finished outputs. :func:`plan_edits` is the one
place a row's edit columns become :class:`EditPlan` objects: ``run`` and ``check`` both use it.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..attributes import EditPlan
from ..data.images import load_rgb, preprocess
from ..manifest import ManifestRow
from ..render import STYLE_SWEEP_VALUES

if TYPE_CHECKING:
    from ..align.photo import AlignedPhoto
    from ..align.options import AlignOptions
    from ..editor import Editor


@dataclass
class Decoded:
    """A decoded row image: the model input ``x``, and under ``--align`` the photo and its faces."""

    x: torch.Tensor                      # (3, size, size) in [-1, 1]; the first face under --align
    photo: "AlignedPhoto | None" = None
    seconds: float = 0.0                 # what decoding (and aligning) took
    size: tuple[int, int] = (0, 0)       # the file's width and height

    @property
    def crops(self) -> list[torch.Tensor]:
        return [f.x for f in self.photo.faces] if self.photo is not None else [self.x]


def decode(row: ManifestRow, img_size: int, crop: str, max_pixels: int,
           align: "AlignOptions | None" = None, budget=None) -> Decoded:
    """Decode and preprocess a row's image (under ``--align``: detect and align its faces).

    Raises RowError saying what is wrong with the file. Runs in the decode threads, which share one
    memory ``budget`` (a data.decode_budget.DecodeBudget; None: the process-wide one)."""
    started = time.perf_counter()
    if align is not None:
        from ..align.photo import decode_aligned

        photo = decode_aligned(row.image, img_size, align, max_pixels)
        height, width = photo.photo.shape[:2]
        return Decoded(photo.x, photo, time.perf_counter() - started, (width, height))
    img = load_rgb(row.image, max_pixels, budget=budget)
    x = preprocess(img, img_size, crop)
    return Decoded(x, None, time.perf_counter() - started, img.size)


def plan_edits(editor: "Editor", row: ManifestRow, source: Sequence[int] | None) -> list[EditPlan]:
    """The row's edit columns as generator inputs (several for ``flip-each``); RowError when invalid."""
    return editor.plans(edit=row.edit, target=row.target, source=source, intensity=row.intensity, style=row.style)


def needs_prediction(row: ManifestRow) -> bool:
    """A row without ``source`` and without a full ``target`` needs its attributes predicted."""
    return row.source is None and row.target is None


@dataclass
class FaceWork:
    """One face (or the whole image) of a row and what the generator makes of it."""

    x: torch.Tensor
    plans: list[EditPlan]                # what the row asks for
    recon: EditPlan | None = None        # --grid's reconstruction
    sweep: list[EditPlan] = field(default_factory=list)  # --style-sweep, one plan per code value
    predicted: str = ""                  # "Name=v:conf;..." when the source was predicted
    outputs: list[torch.Tensor] = field(default_factory=list)

    def all_plans(self) -> list[EditPlan]:
        """In the order the generator sees them: the row's plans, the reconstruction, the sweep."""
        return self.plans + ([self.recon] if self.recon else []) + self.sweep


@dataclass
class RowJob:
    """A row in flight: its faces and plans, and the generator's outputs as batches finish."""

    row: ManifestRow
    decoded: Decoded
    faces: list[FaceWork]
    started: float
    outputs: list[torch.Tensor | None] = field(default_factory=list)
    remaining: int = 0
    failed: bool = False
    fingerprint: dict[str, str] = field(default_factory=dict)  # pipeline.resume, for the record
    note: str = ""                                             # e.g. why an earlier result was redone
    work_seconds: float = 0.0  # the row's own work (decode, its share of batches, writing), not queueing
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.outputs = [None] * self.n_images
        self.remaining = self.n_images

    @property
    def n_images(self) -> int:
        return sum(len(f.all_plans()) for f in self.faces)

    def work(self) -> list[tuple[torch.Tensor, EditPlan]]:
        """(input, plan) per generator image, in output order."""
        return [(face.x, plan) for face in self.faces for plan in face.all_plans()]

    def finish(self, k: int, output: torch.Tensor, seconds: float = 0.0) -> bool:
        """Store output ``k`` (``seconds``: its share of the batch); True once all are in (a row's
        images may finish on two threads)."""
        with self._lock:
            if self.failed:
                return False
            self.outputs[k] = output
            self.work_seconds += seconds
            self.remaining -= 1
            done = self.remaining == 0
        if done:  # hand the outputs to their faces, in the order work() gave them
            i = 0
            for face in self.faces:
                n = len(face.all_plans())
                face.outputs = list(self.outputs[i:i + n])
                i += n
        return done

    def fail(self) -> bool:
        """Mark the row failed; True only the first time (so it is reported once)."""
        with self._lock:
            first, self.failed = not self.failed, True
        return first

    @property
    def predicted(self) -> str:
        return " | ".join(f.predicted for f in self.faces if f.predicted)


class RowPlanner:
    """Turns a decoded row into a :class:`RowJob` (on the scheduler's thread).

    Args:
        editor: the checkpoint's planning rules and source prediction.
        grid: add a reconstruction plan per face (``--grid``).
        style_sweep: add a plan per style code value of this attribute (``--style-sweep``).
    """

    def __init__(self, editor: "Editor", *, grid: bool = False, style_sweep: str | None = None,
                 residual: bool = False):
        self.editor, self.grid, self.sweep = editor, grid or bool(style_sweep), style_sweep
        self.residual = residual  # --compose residual needs each face's reconstruction
        self.warnings: list[str] = []  # said once per run, for the report
        from ..defaults import is_demo

        self._demo = is_demo(editor.checkpoint.weights_path)
        if style_sweep:
            from ..errors import AttGANBatchError

            styles = editor.checkpoint.settings.style
            if style_sweep not in styles:
                have = ", ".join(styles) or "none (it was trained without --style)"
                raise AttGANBatchError(f"--style-sweep {style_sweep}: this model has no style controllers for it; "
                                       f"styled attributes: {have}")

    def plan(self, row: ManifestRow, decoded: Decoded, started: float, **job: Any) -> RowJob:
        """The row's job; RowError when its edit columns do not make sense for this model."""
        if self._demo and decoded.size not in ((0, 0), (64, 64)):
            from ..defaults import DEMO_PHOTO_WARNING

            self._demo = False  # once
            self.warnings.append(f"{row.image.name} is {decoded.size[0]}x{decoded.size[1]}: {DEMO_PHOTO_WARNING}")
        t0 = time.perf_counter()
        result = RowJob(row, decoded, [self._face(row, x) for x in decoded.crops], started, **job)
        result.work_seconds = decoded.seconds + time.perf_counter() - t0
        return result

    def _face(self, row: ManifestRow, x: torch.Tensor) -> FaceWork:
        editor, source, predicted = self.editor, row.source, ""
        if needs_prediction(row):
            prediction = editor.predict_source(x[None])[0]
            source = prediction.labels
            predicted = ";".join(f"{n}={v}:{c:.2f}" for n, v, c in
                                 zip(editor.attrs, prediction.labels, prediction.confidences))
        plans = plan_edits(editor, row, source)
        recon = None
        if (self.grid or self.residual) and len(plans) == 1 and source is not None:
            recon = editor.reconstruction_plan(source)
        sweep = self._sweep_plans(plans, source) if self.sweep else []
        return FaceWork(x, plans, recon, sweep, predicted)

    def _sweep_plans(self, plans: list[EditPlan], source: Any) -> list[EditPlan]:
        """The row's edit with the swept attribute on, once per value of each of its style codes."""
        attr, editor = self.sweep, self.editor
        s = editor.checkpoint.settings
        i = editor.attrs.index(attr)
        base = plans[0] if len(plans) == 1 and plans[0].target[i] == 1 else None
        if base is None:  # switch the attribute on, from the source (or the row's target)
            base = editor.plans(edit=f"{attr}=1", source=source if source is not None else plans[0].target)[0]
            base.style = plans[0].style
        start = s.style_slices()[attr].start
        out = []
        for d in range(s.style[attr]):
            for value in STYLE_SWEEP_VALUES:
                codes = list(base.style or [0.0] * s.n_style)
                codes[start + d] = value
                out.append(dataclasses.replace(base, style=codes, label=f"s{d}={value:g}"))
        return out
