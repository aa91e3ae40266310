"""``Editor.edit(..., align=AlignOptions())``: the Python API's way to edit real photos."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..data.images import load_rgb
from ..render import grid_image, stack_vertically
from .photo import AlignOptions, align_photo, compose


def edit_photos(editor, images: Sequence[str | Path | Image.Image], edits: Sequence[str | None],
                sources: Sequence[str | Sequence[int] | None] | None = None,
                options: AlignOptions | None = None,
                styles: Sequence[str | None] | None = None, residual: bool = False) -> list[Image.Image]:
    """Each photo with its selected faces edited and pasted back at full resolution (or the
    edited aligned crops with ``paste=False``; a labelled grid per face for ``flip-each``).

    A photo without a detectable face raises RowError. ``sources`` apply to every face of their
    photo; a missing source is predicted per face (D's head, or the editor's source_classifier)."""
    options = options or AlignOptions()
    sources = list(sources) if sources is not None else [None] * len(images)
    styles = list(styles) if styles is not None else [None] * len(images)
    results = []
    for image, edit, source, style in zip(images, edits, sources, styles):
        photo = image.convert("RGB") if isinstance(image, Image.Image) else load_rgb(image)
        aligned = align_photo(photo, editor.img_size, options)
        per_face, face_sources = [], []
        for face in aligned.faces:
            src = source if source is not None else editor.predict_source(face.x[None])[0].labels
            per_face.append(editor.plans(edit=edit, source=src, style=style))
            face_sources.append(src)
        grid = any(len(plans) > 1 for plans in per_face)
        if residual and not grid:  # the reconstruction rides along: add output - recon to the photo
            per_face = [plans + [editor.reconstruction_plan(src)]
                        for plans, src in zip(per_face, face_sources)]
        x = torch.stack([face.x for face, plans in zip(aligned.faces, per_face) for _ in plans])
        ys = editor.generate(x, *editor.inputs([p for plans in per_face for p in plans]))
        outs, k = [], 0
        for plans in per_face:
            outs.append(ys[k:k + len(plans)])
            k += len(plans)
        if grid:
            results.append(stack_vertically([grid_image(face.x, y, [p.label for p in plans])
                                   for face, y, plans in zip(aligned.faces, outs, per_face)]))
        else:
            results.append(compose(aligned, [y[0] for y in outs], options,
                                   [y[1] for y in outs] if residual else None))
    return results
