"""``attgan-batch check``: validate a manifest without running the model."""
from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ._common import checkpoint_option, fail


@click.command("check")
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@checkpoint_option
@click.option("--conflicts", type=click.Choice(["resolve", "error", "ignore"]), default="resolve", show_default=True,
              help="How conflict-rule changes are treated (as in run).")
@click.option("--rules", type=click.Choice(["reference", "tensorflow"]), default="reference", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("edited"),
              show_default=True, help="The --out you will give run (output names are checked against it).")
@click.option("--no-decode", is_flag=True, help="Only check that image files exist; do not decode them.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per row instead of a table.")
@click.option("--classifier", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="As in run: a classifier predicts missing sources.")
@click.option("--source-from", type=click.Choice(["auto", "recon", "discriminator"]), default="auto", show_default=True,
              help="As in run: auto, recon (the generator alone) or discriminator (never guess).")
def check_command(manifest, checkpoint, conflicts, rules, out_dir, no_decode, as_json, classifier, source_from):
    """Validate every row of MANIFEST: image files exist and decode, vectors and edits parse,
    attribute names are known, outputs stay inside --out, and conflict rules are reported.

    Exit codes: 0 every row is valid, 1 some rows are invalid, 2 unusable manifest or checkpoint.
    """
    import json

    from ..checking import check_manifest
    from ..errors import AttGANBatchError

    try:
        results = check_manifest(manifest, checkpoint, conflicts=conflicts, rules=rules, out_dir=out_dir,
                                 decode=not no_decode, classifier=classifier, source_from=source_from)
    except AttGANBatchError as exc:
        fail(str(exc))
    console = Console(highlight=False)
    if as_json:
        for r in results.rows:
            click.echo(json.dumps(r))
    else:
        table = Table(title=f"{manifest}: {results.valid} valid, {results.invalid} invalid", title_justify="left")
        for column in ("line", "id", "image", "status", "details"):
            table.add_column(column, overflow="fold")
        for r in results.rows:
            style = "green" if r["status"] == "valid" else "red"
            table.add_row(str(r["line"]), r["id"], r["image"], f"[{style}]{r['status']}", r["details"])
        console.print(table)
        for warning in results.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
    raise SystemExit(1 if results.invalid else 0)
