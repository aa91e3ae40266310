"""``--executor local``: every row in this process.

The main thread reads the manifest and keeps at most ``window`` rows in flight: a thread pool
decodes upcoming rows while the :class:`Scheduler` plans and batches the decoded ones for the
generator, and the :class:`OutputWriter` saves finished rows. Memory does not grow with the
manifest.
"""
from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ..data.decode_budget import DecodeBudget
from ..manifest import ManifestRow
from ..pipeline.context import RunContext
from ..pipeline.resume import row_fingerprint
from ..pipeline.rows import RowPlanner, decode
from ..pipeline.scheduler import Pending, Scheduler
from ..pipeline.writer import OutputWriter
from ..shards import select as shard_rows


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


class LocalExecutor:
    def make_backend(self, options, loaded):
        """The engine ``options.engine`` asks for (engines.select_backend)."""
        from ..engines.select import select_backend

        return select_backend(loaded, options.engine, log=options.log or _log_to_stderr)

    def run(self, ctx: RunContext) -> None:
        o, editor, recorder = ctx.options, ctx.editor, ctx.recorder
        residual = o.output.residual(o.photo.align is not None)
        planner = RowPlanner(editor, grid=o.output.grid, style_sweep=o.output.style_sweep, residual=residual)
        writer = OutputWriter(ctx.out, editor, recorder, grid=o.output.writes_grid, align=o.photo.align,
                              residual=residual, queue_size=4 * max(o.engine.batch_size, 8))
        scheduler = Scheduler(editor, planner, batch_size=o.engine.batch_size, on_done=writer.put,
                              on_failed=recorder.fail)
        reader = ctx.reader()
        window = max(2 * o.engine.batch_size, 4 * o.workers, 8)
        size, crop, max_pixels, align = editor.img_size, o.edit.crop, o.photo.max_pixels, o.photo.align
        budget = DecodeBudget(o.photo.decode_memory) if o.photo.decode_memory else None
        pending: deque[Pending] = deque()

        def take(p: Pending) -> None:
            if isinstance(p.item, ManifestRow) and ctx.should_stop():
                p.decoded.cancel()
                recorder.skip(p.item, ctx.skip_reason())
                return
            scheduler.take(p)

        try:
            with ThreadPoolExecutor(max(o.workers, 1), thread_name_prefix="attgan-decode") as pool:
                rows = iter(shard_rows(reader, o.scale.shard))  # --shard K/N: only this shard's rows
                for item in rows:
                    if ctx.should_stop():
                        recorder.skip(item, ctx.skip_reason())
                        break
                    if not isinstance(item, ManifestRow):
                        pending.append(Pending(item, None))
                    else:
                        fingerprint = row_fingerprint(item, ctx.run_fingerprint)
                        decision = None if o.force else ctx.resume.decide(item, fingerprint)
                        if decision is not None and decision.resume:
                            recorder.resumed(ctx.resume.record(item.id))
                            continue
                        if decision is not None:
                            ctx.summary.redone += 1
                        future = pool.submit(decode, item, size, crop, max_pixels, align, budget)
                        pending.append(Pending(item, future, fingerprint=fingerprint,
                                               note=decision.reason if decision else ""))
                    while len(pending) >= window:
                        take(pending.popleft())
                scheduler.end()
                while pending:
                    take(pending.popleft())
                scheduler.flush()
                scheduler.drain()
                for item in rows:  # only after a stop: the rest is reported, not run
                    recorder.skip(item, ctx.skip_reason())
        finally:
            scheduler.close()  # never leave a batch unwritten
            ctx.summary.warnings.extend(reader.warnings + planner.warnings)
            writer.close()
