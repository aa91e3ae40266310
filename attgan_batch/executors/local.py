"""``--executor local``: every row in this process.

The main thread reads the manifest and keeps at most ``window`` rows in flight: a thread pool
decodes upcoming rows while the :class:`Scheduler` plans and batches the decoded ones for the
generator, and the :class:`OutputWriter` saves finished rows. Memory does not grow with the
manifest. The first window is decoded while the engine is still being prepared
(:mod:`attgan_batch.pipeline.prefetch`).
"""
from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ..data.decode_budget import DecodeBudget
from ..manifest import ManifestRow
from ..pipeline.context import RunContext, manifest_reader
from ..pipeline.prefetch import DecodePrefetch
from ..pipeline.resume import row_fingerprint
from ..pipeline.rows import RowPlanner, decode
from ..pipeline.scheduler import Pending, Scheduler
from ..pipeline.summary import process_seconds
from ..pipeline.writer import OutputWriter
from ..shards import select as shard_rows


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _window(o) -> int:
    """How many rows are decoded ahead of the generator."""
    return max(2 * o.engine.batch_size, 4 * o.workers, 8)


class LocalExecutor:
    def __init__(self) -> None:
        self._prefetch: DecodePrefetch | None = None
        self._budget: DecodeBudget | None = None

    def prefetch(self, manifest, options, loaded, out_root) -> None:
        """Start decoding the first window of rows while the engine is prepared. Not under --align (its
        decode finds faces with OpenCV) nor on a rerun (its first rows are usually done already)."""
        from ..report import journal_path
        from ..shards import run_tag

        o = options
        rerun = not o.force and journal_path(out_root, run_tag(o.scale.shard)).exists()
        if o.photo.align is not None or rerun:
            return
        self._budget = DecodeBudget(o.photo.decode_memory) if o.photo.decode_memory else None
        reader = manifest_reader(manifest, loaded.attrs, out_root, o.output, o.photo.base_dir)
        size, crop, max_pixels, budget = loaded.settings.img_size, o.edit.crop, o.photo.max_pixels, self._budget
        self._prefetch = DecodePrefetch(shard_rows(reader, o.scale.shard),
                                        lambda row: decode(row, size, crop, max_pixels, None, budget), _window(o))

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
                              on_failed=recorder.fail,
                              on_first_batch=lambda: setattr(ctx.summary, "startup_seconds", process_seconds()))
        reader = ctx.reader()
        window = _window(o)
        size, crop, max_pixels, align = editor.img_size, o.edit.crop, o.photo.max_pixels, o.photo.align
        budget = self._budget or (DecodeBudget(o.photo.decode_memory) if o.photo.decode_memory else None)
        prefetched = self._prefetch
        if prefetched is not None:
            prefetched.stop()  # the executor decodes the rest
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
                        future = ((prefetched.take(item) if prefetched is not None else None)
                                  or pool.submit(decode, item, size, crop, max_pixels, align, budget))
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
            if prefetched is not None:
                prefetched.close()
            scheduler.close()  # never leave a batch unwritten
            ctx.summary.warnings.extend(reader.warnings + planner.warnings)
            writer.close()
