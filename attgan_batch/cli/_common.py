"""Options and helpers shared by several commands."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

checkpoint_option = click.option(
    "--checkpoint", "-c", type=click.Path(path_type=Path), default=None,
    help="Experiment folder (setting.txt + checkpoint/weights.N.pth), its checkpoint/ folder, a .pth "
         "file, or 'demo' (the bundled demo model, also the default).",
)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> None:
    """Print an error for the user and exit with ``code`` (2: usage / setup problem)."""
    stderr_console().print(f"[bold red]error:[/] {message}", soft_wrap=True)
    sys.exit(code)
