"""``attgan-batch eval-style``: does a style model's theta control the styled attribute? (evaluation/style.py)"""
from __future__ import annotations

from pathlib import Path

import click


@click.command("eval-style")
@click.option("--checkpoint", "-c", required=True, type=click.Path(path_type=Path),
              help="A full training checkpoint of a style model (Q lives in its discriminator).")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="CelebA-format folder, e.g. from `attgan-batch synth`.")
@click.option("--attr", required=True, help="The styled attribute, e.g. Eyeglasses.")
@click.option("--out", default=Path("style_eval.json"), show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON results; the sweep grid is written beside it as <stem>.png.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test", "all"]))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=2), help="Images to use.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="CPU threads for torch.")
def eval_style_command(checkpoint: Path, data: Path, attr: str, out: Path, split: str, limit: int,
                       threads: int | None) -> None:
    """Correlate sampled style codes with Q's predictions, check the sweep changes the look
    consistently, and draw a sweep grid (one face per line, codes -1..1)."""
    import torch

    from ..errors import AttGANBatchError
    from ..evaluation.evaluate import write_report
    from ..evaluation.style import evaluate_style

    if threads:
        torch.set_num_threads(threads)
    grid = out.with_suffix(".png")
    try:
        result = evaluate_style(checkpoint, data, attr, split=split, limit=limit, grid_path=grid)
    except (AttGANBatchError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    write_report(result, out)
    click.echo(f"{attr}: Q correlation {', '.join(f'{c:.3f}' for c in result['q_correlation'])} over "
               f"{result['images']} {split} images")
    for c in result["frame_consistency"]:
        click.echo(f"  code {c['code']}: sweep direction agreement {c['direction_agreement']:.3f}, "
                   f"monotonic {c['monotonic']:.0%}, mean RGB change {c['mean_rgb_change']}")
    click.echo(f"wrote {out} and {grid}")
