"""``run``'s scale-out options (--shard, --executor, --ray-address, --num-gpus-per-worker).

Kept apart from run.py so that command stays readable; the options arrive in run_command as
the ScaleOptions of RunOptions.
"""
from __future__ import annotations

import click


def _parse_shard(ctx, param, value):
    if value is None:
        return None
    from ..shards import Shard

    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _only_with_ray(ctx, param, value):
    if value not in (None, 0, 0.0) and ctx.params.get("executor", "local") != "ray":  # --executor is eager
        raise click.BadParameter("only used with --executor ray")
    return value


_OPTIONS = [
    click.option("--shard", type=str, default=None, callback=_parse_shard, metavar="K/N",
                 help="Run only shard K of N (K = 1..N): the rows whose sha1(row id) mod N is K-1. Writes "
                      "report.K-of-N.csv/.json; shards may share one --out and run at once. Join them with "
                      "`attgan-batch report merge OUT`."),
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 is_eager=True,
                 help="local: this process. ray: a Ray cluster (pip install 'attgan-batch[ray]'); --workers is "
                      "then the number of engine actors."),
    click.option("--ray-address", type=str, default=None, callback=_only_with_ray, metavar="auto|HOST:PORT",
                 help="Ray cluster to join (default: $RAY_ADDRESS, else a new local Ray)."),
    click.option("--num-gpus-per-worker", type=click.FloatRange(0), default=0.0, show_default=True,
                 callback=_only_with_ray,
                 help="GPUs per Ray engine actor (with --executor ray; 0 = CPU)."),
]


def scale_options(command):
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def scale_run_options(params: dict):
    """The ScaleOptions these options set (``params`` may hold other commands' options too)."""
    from ..pipeline.options import ScaleOptions

    return ScaleOptions(shard=params.get("shard"), executor=params.get("executor", "local"),
                        ray_address=params.get("ray_address"),
                        num_gpus_per_worker=float(params.get("num_gpus_per_worker") or 0.0))
