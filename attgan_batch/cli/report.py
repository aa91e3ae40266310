"""``attgan-batch report``: work with run reports (``report merge`` joins shard reports)."""
from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ._common import fail, stderr_console


@click.group("report")
def report_group() -> None:
    """Work with run reports."""


@report_group.command("merge")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--manifest", "-m", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The manifest the shards ran (default: the one their report.K-of-N.json names).")
@click.option("--quiet", "-q", is_flag=True, help="No summary table.")
def merge_command(out_dir, manifest, quiet):
    """Join the report.K-of-N.csv/.json files that `run --shard K/N` wrote into OUT_DIR into
    report.csv + report.json, after checking that every manifest row is in exactly one of them.

    \b
    Exit codes: 0 merged and every row ok; 1 merged but some rows failed or were skipped, or
    (nothing written) rows missing, duplicated or in the wrong shard's report, or a shard
    report missing; 2 nothing to merge, unreadable manifest, or a shard still running.
    \b
    Example (a Slurm array of 8 jobs, then one merge):
      attgan-batch run m.csv --out edited/ --shard $SLURM_ARRAY_TASK_ID/8
      attgan-batch report merge edited/
    """
    from ..errors import AttGANBatchError
    from ..merge import MergeError, merge_reports

    console = stderr_console()
    try:
        result = merge_reports(out_dir, manifest)
    except MergeError as exc:
        console.print("[bold red]error:[/] the shard reports do not cover every manifest row exactly once; "
                      "nothing was written", soft_wrap=True)
        for problem in exc.problems:
            console.print(f"  - {problem}", soft_wrap=True, markup=False)
        raise SystemExit(1)
    except AttGANBatchError as exc:
        from rich.markup import escape

        fail(escape(str(exc)))
    if not quiet:
        data = result.summary
        counts = data["counts"]
        table = Table(title="attgan-batch report merge", show_header=False, title_justify="left")
        table.add_row("shards", f"{len(data['shards'])}: " + ", ".join(data["merged_from"]))
        table.add_row("rows", f"{counts['rows']}  (ok {counts['ok']}, failed {counts['failed']}, "
                              f"skipped {counts['skipped']}, resumed {counts['resumed']})")
        table.add_row("report", f"{result.csv_path}\n{result.json_path}")
        for warning in result.warnings:
            table.add_row("[yellow]warning", warning)
        console.print(table)
    raise SystemExit(result.exit_code)
