"""A finished row's pictures and report fields, from its faces' generator outputs.

The row's image is the edit itself, or for ``flip-each`` a labelled strip (one line per face);
under ``--align`` the edited faces are pasted back into the photo. ``--grid`` adds a contact sheet
``<output stem>.grid.png``: input, reconstruction and the edit(s), labelled, like the reference
test script's figure, plus a line per style code with ``--style-sweep``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ..attributes import format_vector
from ..data.images import to_uint8
from ..render import STYLE_SWEEP_VALUES, grid_image, stack_vertically
from ..residual import residual as residual_of
from .rows import FaceWork, RowJob

if TYPE_CHECKING:
    from ..align.options import AlignOptions
    from ..editor import Editor


def grid_name(output: str) -> str:
    """Where ``--grid`` writes a row's contact sheet, beside its output."""
    path = PurePosixPath(output.replace("\\", "/"))
    return str(path.with_name(path.stem + ".grid.png"))


@dataclass
class Composed:
    image: Image.Image
    grid: Image.Image | None = None


def has_own_sheet(job: RowJob, grid: bool) -> bool:
    """Whether ``--grid`` writes a sheet beside the output: not for a ``flip-each`` row without a
    style sweep, whose output already is that sheet (the file would be a byte-identical copy)."""
    return grid and not all(len(f.plans) > 1 and not f.sweep for f in job.faces)


def composes_residual(job: RowJob, residual: bool) -> bool:
    """Residual composition needs every face's reconstruction (a source); flip-each stays a strip."""
    return residual and all(len(f.plans) == 1 and f.recon is not None for f in job.faces)


def compose_row(job: RowJob, *, grid: bool, align: "AlignOptions | None", residual: bool = False) -> Composed:
    """The row's output image (and, with ``grid``, its contact sheet); ``residual``: the input plus
    what the edit changes (:mod:`attgan_batch.residual`)."""
    faces = job.faces
    sheet = None
    if has_own_sheet(job, grid):
        lines = []
        for face in faces:
            lines.append(_grid_line(face, job.row.edit_text))
            lines += _sweep_lines(face)
        sheet = stack_vertically(lines)
    if any(len(face.plans) > 1 for face in faces):  # flip-each: one labelled line per face
        image = stack_vertically([_flip_each_line(face) for face in faces])
    elif job.decoded.photo is not None:
        from ..align.photo import compose

        recons = [face.outputs[1] for face in faces] if composes_residual(job, residual) else None
        image = compose(job.decoded.photo, [face.outputs[0] for face in faces], align, recons)
    elif composes_residual(job, residual):
        image = Image.fromarray(to_uint8(residual_of(faces[0].x, faces[0].outputs[0], faces[0].outputs[1])))
    else:
        image = Image.fromarray(to_uint8(faces[0].outputs[0]))
    return Composed(image, sheet)


def _flip_each_line(face: FaceWork) -> Image.Image:
    return grid_image(face.x, torch.stack(face.outputs[:len(face.plans)]), [p.label for p in face.plans])


def _grid_line(face: FaceWork, edit_text: str) -> Image.Image:
    if len(face.plans) > 1:  # flip-each already starts with the reconstruction
        return _flip_each_line(face)
    outputs, labels = [], []
    if face.recon is not None:
        outputs.append(face.outputs[1])
        labels.append("recon")
    outputs.append(face.outputs[0])
    labels.append(face.plans[0].label if face.plans[0].label not in ("", "target") else (edit_text or "target"))
    return grid_image(face.x, torch.stack(outputs), labels)


def _sweep_lines(face: FaceWork) -> list[Image.Image]:
    if not face.sweep:
        return []
    outputs = face.outputs[len(face.outputs) - len(face.sweep):]
    per_line = len(STYLE_SWEEP_VALUES)
    return [grid_image(face.x, torch.stack(outputs[j:j + per_line]), [p.label for p in face.sweep[j:j + per_line]])
            for j in range(0, len(face.sweep), per_line)]


def edit_fields(job: RowJob, editor: "Editor") -> dict[str, Any]:
    """What the row did, for its report record; several faces are joined with `` | ``."""
    faces = job.faces
    fields: dict[str, Any] = {"source_predicted": job.predicted}
    if all(len(f.plans) == 1 for f in faces):
        plans = [f.plans[0] for f in faces]
        fields |= {
            "source": " | ".join(format_vector(p.source) if p.source is not None else "" for p in plans),
            "target": " | ".join(format_vector(p.target) for p in plans),
            "applied": " | ".join(format_vector(p.scaled) for p in plans),
            "style": " | ".join(editor.format_style(p.style) for p in plans) if plans[0].style else "",
            "edited": " | ".join(";".join(p.edited) for p in plans),
            "conflicts": (" | ".join("; ".join(p.conflict_changes) for p in plans)
                          if any(p.conflict_changes for p in plans) else ""),
        }
    else:
        fields |= {
            "source": " | ".join(format_vector(f.plans[0].source) if f.plans[0].source is not None else ""
                                 for f in faces),
            "edited": "flip-each",
            "applied": f"{sum(len(f.plans) for f in faces)} images in a grid",
            "conflicts": " | ".join(f"{p.label}: {'; '.join(p.conflict_changes)}"
                                    for f in faces for p in f.plans if p.conflict_changes),
        }
    return fields


def photo_notes(job: RowJob, align: "AlignOptions | None", grid: bool, residual: bool = False) -> list[str]:
    """Report notes: how many faces were aligned, where the grid went, how the output was composed."""
    notes = []
    if residual:
        notes.append("composed as a residual" if composes_residual(job, residual) else
                     "not composed as a residual (needs a source, and flip-each stays a strip)")
    photo = job.decoded.photo
    if photo is not None:
        notes.append(f"aligned {len(photo.faces)} of {photo.found} face(s)"
                     + ("" if align is None or align.paste else " (not pasted back)"))
        notes += photo.notes
    if grid:
        notes.append(f"grid: {grid_name(job.row.output)}" if has_own_sheet(job, grid) else "grid: the output itself")
    return notes
