"""``attgan-batch synth``: draw a synthetic CelebA-format face set with known attributes."""
from __future__ import annotations

import os
import time
from pathlib import Path

import click


@click.command("synth")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write images/, list_attr_celeba.txt and list_eval_partition.txt into.")
@click.option("--n", "n", default=2000, show_default=True, type=click.IntRange(min=1), help="Number of faces.")
@click.option("--size", default=64, show_default=True, type=click.IntRange(min=16), help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same faces (any --workers).")
@click.option("--counterfactuals", is_flag=True,
              help="Also draw every test face with each attribute flipped (counterfactuals/, index.csv).")
@click.option("--counterfactual-splits", default="test", show_default=True, metavar="SPLIT[,SPLIT]",
              help="Splits whose faces get counterfactuals (train, val, test), e.g. val,test to score the "
                   "validation split too. The faces and labels are the same whatever is chosen.")
@click.option("--workers", default=min(4, os.cpu_count() or 1), show_default=True, type=click.IntRange(min=1),
              help="Processes drawing in parallel.")
def synth_command(out: Path, n: int, size: int, seed: int, counterfactuals: bool, counterfactual_splits: str,
                  workers: int) -> None:
    """Draw N face-like images whose 13 attributes are known exactly.

    The set reads like aligned CelebA (train with --crop none), and with --counterfactuals each
    test face comes with its true single-attribute edits, which `attgan-batch eval` compares to.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..data.synth import SPLIT_IDS, generate_dataset

    splits = [part.strip() for part in counterfactual_splits.split(",") if part.strip()]
    if not splits or any(part not in SPLIT_IDS for part in splits):
        raise click.BadParameter(f"{counterfactual_splits!r}: give split names from {', '.join(SPLIT_IDS)}",
                                 param_hint="--counterfactual-splits")

    console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(TextColumn("drawing faces"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("synth", total=n)
        generate_dataset(out, n, size, seed, counterfactuals, workers,
                         progress=lambda k: progress.advance(task, k), counterfactual_splits=splits)
    extra = " with counterfactuals" if counterfactuals else ""
    console.print(f"wrote {n} faces{extra} ({size} px) to {out} in {time.perf_counter() - start:.1f} s")
