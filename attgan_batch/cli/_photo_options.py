"""``run`` options for real photos and richer output: --align/--face/--margin/--no-paste,
--classifier and --grid. Kept apart from run.py so that command stays a thin list of options."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _face(ctx, param, value):
    from ..align.options import parse_face

    try:
        return parse_face(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


_OPTIONS = [
    click.option("--align", is_flag=True,
                 help="Real photos: detect the face(s), align each to CelebA's crop (eyes level at CelebA's "
                      "positions), edit it and paste it back into the full-resolution photo with a soft "
                      "mask. A photo without a detectable face fails its row. Ignores --crop."),
    click.option("--face", default="largest", show_default=True, callback=_face, metavar="largest|all|INDEX",
                 help="With --align: which faces to edit (INDEX counts from 0 at the left)."),
    click.option("--margin", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                 help="With --align: extra context around CelebA's crop, as a fraction of its side per edge "
                      "(0 keeps the training geometry; more keeps more hair but shrinks the face)."),
    click.option("--no-paste", is_flag=True,
                 help="With --align: output the edited aligned crop(s) instead of the whole photo."),
    click.option("--classifier", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
                 help="Predict missing sources with this attribute classifier (from `attgan-batch "
                      "train-classifier`) instead of the checkpoint's discriminator."),
    click.option("--source-from", type=click.Choice(["auto", "recon", "discriminator"]), default="auto", show_default=True,
                 help="Rows without a source: auto predicts it with --classifier, else the checkpoint's "
                      "discriminator, else (G-only weights such as the published ones) infers it with the "
                      "generator alone (recon: the attributes whose reconstruction is closest to the image); "
                      "discriminator never guesses (such rows fail without a classifier or discriminator)."),
    click.option("--compose", type=click.Choice(["auto", "replace", "residual"]), default="auto", show_default=True,
                 help="replace: the output is the generator's image; residual: the input plus what the edit "
                      "changes (keeps the photo's own detail; needs a source); auto: residual with --align, "
                      "else replace."),
    click.option("--grid", is_flag=True,
                 help="Also write <output stem>.grid.png per row: input, reconstruction and the edit(s), labelled."),
    click.option("--style-sweep", metavar="ATTR", default=None,
                 help="Style models (trained with --style): add to the grid a line per style code of ATTR, "
                      "the attribute switched on and the code swept over -1..1. Implies --grid."),
]


def photo_options(command):
    """Decorator adding the options above (their values arrive in the command's ``**photo``)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def photo_run_options(photo: dict[str, Any]):
    """(PhotoOptions, OutputOptions fields, classifier) from the parsed options; --face/--margin/
    --no-paste need --align."""
    from ..align.options import AlignOptions

    if not photo.get("align"):
        given = [name for name, flag, default in (("--face", "face", "largest"), ("--margin", "margin", 0.0),
                                                  ("--no-paste", "no_paste", False))
                 if photo.get(flag, default) != default]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply with --align")
    align = (AlignOptions(face=photo["face"], margin=photo["margin"], paste=not photo["no_paste"])
             if photo.get("align") else None)
    if photo.get("source_from") == "recon" and photo.get("classifier"):
        raise click.UsageError("--source-from recon and --classifier both predict missing sources; give one")
    return (align, {"grid": bool(photo.get("grid")), "style_sweep": photo.get("style_sweep"),
                    "compose": photo.get("compose", "auto")}, photo.get("classifier"),
            photo.get("source_from", "auto"))
