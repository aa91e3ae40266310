"""What ``--align`` and ``--grid`` change in a row's life inside the batch pipeline.

The pipeline (:mod:`attgan_batch.pipeline`) calls these hooks when either option is on, so the
plain path stays as it was. Under ``--align`` one row can hold several faces, each with its own
predicted source and plans; the generator sees one input per plan (``state.inputs``), and the
row's image is the photo with every edited face pasted back. ``--grid`` adds a reconstruction
plan per face and writes ``<output stem>.grid.png``: input, reconstruction and the edit(s),
labelled, like the reference test script's figure. ``--style-sweep ATTR`` (style models) adds a
line per style code of ATTR to that sheet: the attribute switched on, the code swept over -1..1.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .align import AlignedPhoto, AlignOptions, compose
from .attributes import EditPlan, format_vector
from .data.images import save_atomic, to_uint8
from .render import STYLE_SWEEP_VALUES, grid_image, stack_vertically


@dataclass
class FacePlans:
    x: torch.Tensor                 # the aligned crop (or the whole preprocessed image)
    plans: list[EditPlan]           # what the row asks for
    recon: EditPlan | None = None   # --grid's reconstruction
    predicted: str = ""             # "Name=v:conf;..." when the source was predicted
    sweep: list[EditPlan] = field(default_factory=list)  # --style-sweep's plans, one line per code
    outputs: list[torch.Tensor] = field(default_factory=list)

    def all_plans(self) -> list[EditPlan]:
        """In the order the generator sees them: the row's plans, the reconstruction, the sweep."""
        return self.plans + ([self.recon] if self.recon else []) + self.sweep


@dataclass
class RowExtra:
    aligned: AlignedPhoto | None
    faces: list[FacePlans]


def grid_path(output: Path) -> Path:
    return output.with_name(output.stem + ".grid.png")


class RowHooks:
    def __init__(self, editor, align: AlignOptions | None, grid: bool, style_sweep: str | None = None):
        self.editor, self.align, self.grid, self.sweep = editor, align, grid, style_sweep
        if style_sweep:
            from .errors import AttGANBatchError

            styles = editor.checkpoint.settings.style
            if style_sweep not in styles:
                have = ", ".join(styles) or "none (it was trained without --style)"
                raise AttGANBatchError(f"--style-sweep {style_sweep}: this model has no style controllers for it; "
                                       f"styled attributes: {have}")
        if align is not None:
            from .align.photo import default_detector

            default_detector()  # a missing OpenCV is a setup error now, not a failure per row

    # ------------------------------------------------------------------ planning (main thread)
    def plan(self, state) -> None:
        """Plans for every face of the row; sets state.plans, state.inputs and state.extra."""
        aligned = state.x if isinstance(state.x, AlignedPhoto) else None
        crops = [f.x for f in aligned.faces] if aligned is not None else [state.x]
        if aligned is not None:
            state.x = aligned.x
        row, editor = state.row, self.editor
        faces = []
        for x in crops:
            source, predicted = row.source, ""
            if source is None and row.target is None:
                prediction = editor.predict_source(x[None])[0]
                source = prediction.labels
                predicted = ";".join(f"{n}={v}:{c:.2f}" for n, v, c in
                                     zip(editor.attrs, prediction.labels, prediction.confidences))
            plans = editor.plans(edit=row.edit, target=row.target, source=source, intensity=row.intensity,
                                 style=row.style)
            recon = None
            if self.grid and len(plans) == 1 and source is not None:
                recon = dataclasses.replace(editor.plans(edit=None, source=source)[0], label="recon")
            sweep = self._sweep_plans(plans, source) if self.sweep else []
            faces.append(FacePlans(x, plans, recon, predicted, sweep))
        state.extra = RowExtra(aligned, faces)
        state.plans, state.inputs = [], []
        for face in faces:
            for plan in face.all_plans():
                state.plans.append(plan)
                state.inputs.append(face.x)
        state.predicted = " | ".join(f.predicted for f in faces if f.predicted)

    def _sweep_plans(self, plans: list[EditPlan], source) -> list[EditPlan]:
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

    # ------------------------------------------------------------------ output (writer thread)
    def compose(self, state, path: Path) -> Image.Image:
        """The row's image (and, with --grid, its contact sheet written beside ``path``)."""
        extra: RowExtra = state.extra
        k = 0
        for face in extra.faces:
            n = len(face.all_plans())
            face.outputs = list(state.outputs[k:k + n])
            k += n
        if self.grid:
            lines = []
            for face in extra.faces:
                lines.append(self._grid_line(face, state.row.edit_text))
                lines += self._sweep_lines(face)
            save_atomic(stack_vertically(lines), grid_path(path), "png")
        if any(len(face.plans) > 1 for face in extra.faces):  # flip-each: one labelled line per face
            return stack_vertically([grid_image(face.x, torch.stack(face.outputs[:len(face.plans)]),
                                      [p.label for p in face.plans]) for face in extra.faces])
        mains = [face.outputs[0] for face in extra.faces]
        if extra.aligned is not None:
            return compose(extra.aligned, mains, self.align)
        return Image.fromarray(to_uint8(mains[0]))

    @staticmethod
    def _sweep_lines(face: FacePlans) -> list[Image.Image]:
        if not face.sweep:
            return []
        outputs = face.outputs[len(face.outputs) - len(face.sweep):]
        per_line = len(STYLE_SWEEP_VALUES)
        return [grid_image(face.x, torch.stack(outputs[j:j + per_line]), [p.label for p in face.sweep[j:j + per_line]])
                for j in range(0, len(face.sweep), per_line)]

    @staticmethod
    def _grid_line(face: FacePlans, edit_text: str) -> Image.Image:
        if len(face.plans) > 1:  # flip-each already starts with the reconstruction
            return grid_image(face.x, torch.stack(face.outputs[:len(face.plans)]), [p.label for p in face.plans])
        outputs, labels = [], []
        if face.recon is not None:
            outputs.append(face.outputs[1])
            labels.append("recon")
        outputs.append(face.outputs[0])
        labels.append(face.plans[0].label if face.plans[0].label not in ("", "target") else (edit_text or "target"))
        return grid_image(face.x, torch.stack(outputs), labels)

    def record(self, state, path: Path) -> dict[str, Any]:
        """Report fields for the row; several faces are joined with ' | ' in face order."""
        extra: RowExtra = state.extra
        faces = extra.faces
        fields: dict[str, Any] = {"source_predicted": state.predicted}
        if all(len(f.plans) == 1 for f in faces):
            plans = [f.plans[0] for f in faces]
            fields |= {
                "source": " | ".join(format_vector(p.source) if p.source is not None else "" for p in plans),
                "target": " | ".join(format_vector(p.target) for p in plans),
                "applied": " | ".join(format_vector(p.scaled) for p in plans),
                "style": " | ".join(self.editor.format_style(p.style) for p in plans) if plans[0].style else "",
                "edited": " | ".join(";".join(p.edited) for p in plans),
                "conflicts": (" | ".join("; ".join(p.conflict_changes) for p in plans)
                              if any(p.conflict_changes for p in plans) else ""),
            }
        else:
            fields |= {"source": " | ".join(format_vector(f.plans[0].source) for f in faces),
                       "edited": "flip-each",
                       "applied": f"{sum(len(f.plans) for f in faces)} images in a grid"}
        notes = []
        if extra.aligned is not None:
            a = extra.aligned
            notes.append(f"aligned {len(a.faces)} of {a.found} face(s)"
                         + ("" if self.align.paste else " (not pasted back)"))
            notes += a.notes
        if self.grid:
            notes.append(f"grid: {grid_path(Path(state.row.output)).as_posix()}")
        fields["note"] = "; ".join(notes)
        return fields

