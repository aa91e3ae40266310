"""``attgan-batch eval``: editing accuracy, preservation and reconstruction on a test split."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("eval")
@click.option("--checkpoint", "-c", required=True, type=click.Path(path_type=Path),
              help="Experiment folder, its checkpoint/ folder, or a weights .pth file.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="CelebA-format folder; a synthetic set's counterfactuals/ are used when present.")
@click.option("--classifier", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The judge: a file from `attgan-batch train-classifier --data DIR --out judge.pt` "
                   "(an attribute classifier independent of the GAN; train one first if you have none).")
@click.option("--out", default=Path("eval.json"), show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON report; a bar chart is written beside it (.png).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test", "all"]))
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Evaluate only the first N images.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--crop", default="auto", show_default=True, type=click.Choice(["auto", "celeba", "square", "none"]))
@click.option("--test-int", default=None, type=float,
              help="Intensity of the edited attribute (default: the checkpoint's).")
@click.option("--rules", default="reference", show_default=True, type=click.Choice(["reference", "tensorflow"]),
              help="Conflict rule set applied after each flip.")
@click.option("--compose", default="replace", show_default=True, type=click.Choice(["replace", "residual"]),
              help="What is judged: the generator's image (replace, what `run` writes by default) or the input "
                   "plus the edit's change (residual, what `run --compose residual` writes).")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="CPU threads for torch.")
def eval_command(checkpoint: Path, data: Path, classifier: Path, out: Path, split: str, limit: int | None,
                 batch_size: int, crop: str, test_int: float | None, rules: str, compose: str,
                 device: str, threads: int | None) -> None:
    """Flip every attribute of every test image and judge the edits with an independent classifier."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from ..errors import AttGANBatchError
    from ..evaluation.chart import draw_chart
    from ..evaluation.evaluate import evaluate, write_report

    from ..defaults import default_checkpoint

    if classifier is None:
        raise click.UsageError("eval judges the edits with an attribute classifier independent of the GAN: "
                               "train one with `attgan-batch train-classifier --data DIR --out judge.pt`, then pass "
                               "--classifier judge.pt")
    checkpoint = default_checkpoint(checkpoint)
    if threads:
        torch.set_num_threads(threads)
    console = Console(stderr=True)
    try:
        with Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("eval", total=None)
            report = evaluate(checkpoint, data, classifier, split, limit, batch_size, crop, test_int, rules, device,
                              progress=lambda k: progress.advance(task, k), compose=compose)
    except (AttGANBatchError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    write_report(report, out)
    chart = out.with_suffix(".png")
    draw_chart(report, chart)

    def cell(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    table = Table(title=f"{report['n_images']} {split} images, edited attribute at ±{report['test_int']:g}"
                        + (", residual composition" if compose == "residual" else ""))
    for header in ("attribute", "edit acc", "preserv. err", "clf acc real", "clf acc cf", "PSNR vs cf", "SSIM vs cf"):
        if header == "attribute":
            table.add_column(header, no_wrap=True, min_width=19)
        else:
            table.add_column(header, justify="right")
    for name, row in report["per_attribute"].items():
        table.add_row(name, cell(row["edit_accuracy"]), cell(row["preservation_error"]),
                      cell(row["classifier_accuracy_real"]), cell(row["classifier_accuracy_counterfactual"]),
                      cell(row["counterfactual_psnr"], 2), cell(row["counterfactual_ssim"]))
    s = report["summary"]
    table.add_row("[bold]all[/bold]", cell(s["edit_accuracy"]), cell(s["preservation_error"]),
                  cell(s["classifier_accuracy_real"]), cell(s["classifier_accuracy_counterfactual"]),
                  cell(s["counterfactual_psnr"], 2), cell(s["counterfactual_ssim"]))
    console.print(table)
    console.print(f"reconstruction PSNR {cell(s['reconstruction_psnr'], 2)} dB, SSIM {cell(s['reconstruction_ssim'])}"
                  + (f"; unedited input vs counterfactual PSNR {cell(s['input_vs_counterfactual_psnr'], 2)} dB"
                     if s["input_vs_counterfactual_psnr"] is not None else ""))
    console.print(f"wrote {out} and {chart}")
