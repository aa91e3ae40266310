"""``attgan-batch info``: what a checkpoint is and what ``run`` will do with it."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import checkpoint_option, fail


def describe_checkpoint(checkpoint: str | Path | None, engines_dir: Path) -> dict:
    """The facts ``info`` prints, as a dict (also its ``--json``)."""
    from ..defaults import default_checkpoint
    from ..engines.select import predict_auto
    from ..model import load_checkpoint
    from ..model.checkpoint import read_weights

    loaded = load_checkpoint(default_checkpoint(checkpoint))
    s = loaded.settings
    has_d = isinstance(read_weights(loaded.weights_path).get("D"), dict)
    return {
        "checkpoint": str(loaded.weights_path), "setting": str(loaded.setting_path or ""), "sha256": loaded.sha256,
        "attributes": [{"index": i, "name": name} for i, name in enumerate(s.attrs)],
        "img_size": s.img_size, "thres_int": s.thres_int, "test_int": s.test_int,
        "shortcut_layers": s.shortcut_layers, "inject_layers": s.inject_layers,
        "enc_dim": s.enc_dim, "dec_dim": s.dec_dim,
        "discriminator": has_d,
        "source_prediction": ("the checkpoint's discriminator predicts missing sources" if has_d else
                              "G-only weights: run infers missing sources by reconstruction search (--source-from "
                              "recon: many generator passes per photo); a source column, --source or "
                              "--classifier FILE avoid it"),
        "style": dict(s.style), "auto_backend": predict_auto(loaded, engines_dir), "notes": loaded.notes,
    }


@click.command("info")
@checkpoint_option
@click.option("--engines-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where run looks for cached engines (default: the per-user cache).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info_command(checkpoint, engines_dir, as_json):
    """Describe a checkpoint: its attributes in model order (the order of every source and
    target vector), image size, thres_int/test_int, whether it can predict source attributes,
    style codes, sha256, and which backend `run` would pick here.

    \b
    Example:
      attgan-batch info -c demo
      attgan-batch info -c output/128_shortcut1_inject1_none --json
    """
    import json

    from ..errors import AttGANBatchError

    try:
        facts = describe_checkpoint(checkpoint, engines_dir)
    except AttGANBatchError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    names = ", ".join(f"{a['index']}:{a['name']}" for a in facts["attributes"])
    lines = [
        f"checkpoint   {facts['checkpoint']}",
        f"sha256       {facts['sha256']}",
        f"image size   {facts['img_size']} px   thres_int {facts['thres_int']:g}   test_int {facts['test_int']:g}",
        f"attributes   {len(facts['attributes'])}, in vector order: {names}",
        f"sources      {facts['source_prediction']}",
        "style codes  " + (", ".join(f"{k} ({v})" for k, v in facts["style"].items()) or "none"),
        f"run picks    {facts['auto_backend']}",
    ]
    lines += [f"note         {n}" for n in facts["notes"]]
    click.echo("\n".join(lines))
