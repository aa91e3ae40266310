"""Where a run's rows are processed: in this process (``--executor local``, :mod:`.local`) or spread
over a Ray cluster (``--executor ray``, :mod:`.ray_executor`).

An executor has three methods: ``prefetch(manifest, options, loaded, out_root)`` (start work that
needs no engine, such as decoding the first rows, while the engine is prepared), ``make_backend(options,
loaded)`` (the engine the run reports, built where the rows run) and ``run(ctx)`` (process every
row of ``ctx``, a :class:`attgan_batch.pipeline.context.RunContext`, through its recorder). Both executors are built
from the pipeline's public parts. Importing this package imports nothing heavy: Ray is an optional
extra, loaded only for ``--executor ray``.
"""
from __future__ import annotations

from typing import Any, Protocol

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def prefetch(self, manifest: Any, options: Any, loaded: Any, out_root: Any) -> None: ...

    def make_backend(self, options: Any, loaded: Any) -> Any: ...

    def run(self, ctx: Any) -> None: ...


def get_executor(name: str) -> Executor:
    """The executor called ``name`` (one of EXECUTORS)."""
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor()
    from ..errors import AttGANBatchError

    raise AttGANBatchError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
