"""``attgan-batch cache``: the per-user engine cache (OpenVINO engine checks, ONNX files, TensorRT plans)."""
from __future__ import annotations

import json
from pathlib import Path

import click

_DIR = click.option("--engines-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                    help="Another engines folder instead of the per-user cache.")


@click.group("cache")
def cache_group():
    """Show or clear the engine cache that `run` fills on first use of a checkpoint.

    \b
    Keep it between CI runs to skip the one-time work per checkpoint (OpenVINO's check against
    PyTorch, ONNX exports, TensorRT plans): cache the folder `cache info` prints
    (e.g. ~/.cache/attgan-batch), or point --engines-dir at a folder the job keeps.
    """


@cache_group.command("info")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info_command(engines_dir, as_json):
    """Where the cache is, its size, and its entries (one per checkpoint)."""
    from ..engines.cache import cache_info

    info = cache_info(engines_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['path']}: {len(info['entries'])} checkpoint(s), {info['bytes'] / 1e6:.1f} MB")
    for entry in info["entries"]:
        click.echo(f"  {entry['key']}  {entry['bytes'] / 1e6:8.1f} MB  {', '.join(entry['files'])}")


@cache_group.command("clear")
@_DIR
def clear_command(engines_dir):
    """Delete every cached engine (they are rebuilt on the next run that needs them)."""
    from ..engines.cache import cache_info, clear_cache

    path = cache_info(engines_dir)["path"]
    freed = clear_cache(engines_dir)
    click.echo(f"cleared {path} ({freed / 1e6:.1f} MB)")
