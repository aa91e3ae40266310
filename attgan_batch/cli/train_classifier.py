"""``attgan-batch train-classifier``: an attribute classifier independent of the GAN, for ``eval``."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("train-classifier")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="CelebA-format folder (images + list_attr_celeba.txt [+ list_eval_partition.txt]).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the classifier (.pt).")
@click.option("--attrs", default=None, help="Comma-separated attribute names (default: the 13 AttGAN attributes).")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--img-size", default=64, show_default=True, type=click.IntRange(min=8),
              help="Input size (a power of two); use the GAN's size.")
@click.option("--lr", default=2e-3, show_default=True, type=float)
@click.option("--width", default=16, show_default=True, type=click.IntRange(min=4), help="Channels of the first layer.")
@click.option("--crop", default="auto", show_default=True, type=click.Choice(["auto", "celeba", "square", "none"]),
              help="auto: CelebA centre crop for 178x218 aligned images, else a centre square.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="CPU threads for torch (1 is often fastest on a busy shared machine).")
def train_classifier_command(data: Path, out: Path, attrs: str | None, epochs: int, batch_size: int, img_size: int,
                             lr: float, width: int, crop: str, seed: int, threads: int | None) -> None:
    """Train a small CNN to predict attributes from real images (never the GAN's own C)."""
    import torch

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from ..errors import AttGANBatchError
    from ..training.classifier import train_classifier

    if threads:
        torch.set_num_threads(threads)
    console = Console(stderr=True)
    names = [a.strip() for a in attrs.split(",") if a.strip()] if attrs else None
    try:
        with Progress(TextColumn("training classifier"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("train", total=None, loss=float("nan"))

            def report(step: int, total: int, loss: float) -> None:
                progress.update(task, completed=step, total=total, loss=loss)

            result = train_classifier(data, out, names, epochs, batch_size, img_size, seed, lr, width, crop,
                                      progress=report)
    except (AttGANBatchError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    table = Table(title="validation accuracy")
    table.add_column("attribute")
    table.add_column("accuracy", justify="right")
    for name, acc in result.val_accuracy.items():
        table.add_row(name, f"{acc:.3f}")
    mean = sum(result.val_accuracy.values()) / max(1, len(result.val_accuracy))
    table.add_row("[bold]mean[/bold]", f"[bold]{mean:.3f}[/bold]")
    console.print(table)
    console.print(f"saved {result.path} ({result.seconds:.1f} s, final loss {result.train_loss:.4f})")
