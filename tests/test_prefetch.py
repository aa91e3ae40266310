"""The first window of rows is decoded while the engine is being prepared, each row exactly once."""
from __future__ import annotations

import threading
import time

from attgan_batch.engines.options import EngineOptions
from attgan_batch.executors import local
from attgan_batch.pipeline import RunOptions, run_manifest

from conftest import SOURCE_13, write_image


def _manifest(tmp_path, n):
    lines = ["id,image,source,edit"]
    for i in range(n):
        write_image(tmp_path / f"i{i}.png", size=(48, 40), seed=i)
        lines.append(f"r{i},i{i}.png,\"{SOURCE_13}\",Male=1")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "m.csv"


def _spy(monkeypatch, engine_seconds):
    """Record (manifest line, thread, time) of every decode, and make engine preparation take a while."""
    calls, ready = [], {}
    real_decode, real_make = local.decode, local.LocalExecutor.make_backend

    def decode(row, *args):
        calls.append((row.line, threading.current_thread().name, time.perf_counter()))
        return real_decode(row, *args)

    def make_backend(self, options, loaded):
        time.sleep(engine_seconds)
        ready["at"] = time.perf_counter()
        return real_make(self, options, loaded)

    monkeypatch.setattr(local, "decode", decode)
    monkeypatch.setattr(local.LocalExecutor, "make_backend", make_backend)
    return calls, ready


def test_rows_decode_while_the_engine_is_prepared_and_never_twice(monkeypatch, tiny_checkpoint, tmp_path):
    manifest = _manifest(tmp_path, 40)  # batch 4: a window of 8 rows is prefetched, the rest decoded as usual
    calls, ready = _spy(monkeypatch, engine_seconds=0.5)
    options = RunOptions(out_dir=tmp_path / "out", checkpoint=tiny_checkpoint,
                         engine=EngineOptions(backend="torch", batch_size=4))
    summary = run_manifest(manifest, options)
    assert summary.ok == 40 and summary.failed == 0
    lines = [line for line, _thread, _at in calls]
    assert len(lines) == len(set(lines)) == 40, "every row decoded exactly once"
    early = [(line, thread) for line, thread, at in calls if at < ready["at"]]
    assert len(early) == 8 and {thread for _line, thread in early} == {"attgan-prefetch"}, early
    assert len(list((tmp_path / "out").glob("*.png"))) == 40
    assert summary.startup_seconds is not None and summary.startup_seconds > 0.5, "counted from process start"
    assert summary.to_dict()["startup_seconds"] == round(summary.startup_seconds, 2)


def test_a_rerun_does_not_prefetch(monkeypatch, tiny_checkpoint, tmp_path):
    manifest = _manifest(tmp_path, 6)
    options = RunOptions(out_dir=tmp_path / "out", checkpoint=tiny_checkpoint,
                         engine=EngineOptions(backend="torch", batch_size=4))
    run_manifest(manifest, options)
    calls, _ready = _spy(monkeypatch, engine_seconds=0.2)
    (tmp_path / "i0.png").write_bytes((tmp_path / "i1.png").read_bytes())  # one input changed: one row redone
    summary = run_manifest(manifest, options)
    assert summary.resumed == 5 and summary.redone == 1
    assert [thread for _line, thread, _at in calls] == ["attgan-decode_0"]
