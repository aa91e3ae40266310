"""The pipeline's generator calls run in their own threads, several at once where the backend has lanes.

Real torch backends on a tiny checkpoint and real files; only the number of lanes is declared here.
"""
from __future__ import annotations

import csv
import threading

import torch

from attgan_batch.editor import Editor
from attgan_batch.engines import TorchBackend
from attgan_batch.model import load_checkpoint
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
from conftest import SOURCE_13, write_image


class Lanes(TorchBackend):
    """Eager torch that declares ``concurrency`` lanes and records how many calls overlap."""

    def __init__(self, generator, concurrency: int, fail_call: int | None = None):
        super().__init__(generator, "cpu", channels_last=False)
        self.concurrency = concurrency
        self.fail_call = fail_call
        self.calls = 0
        self.sizes: list[int] = []
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()
        self.gate = threading.Barrier(concurrency, timeout=5) if concurrency > 1 else None

    def infer(self, images, attrs, style=None):
        with self.lock:
            self.calls += 1
            self.sizes.append(len(images))
            call = self.calls
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None and call <= self.concurrency:
                self.gate.wait()  # the first calls meet: proof that they really overlap
            if call == self.fail_call:
                raise RuntimeError("simulated engine fault")
            return super().infer(images, attrs, style)
        finally:
            with self.lock:
                self.active -= 1


def _manifest(folder, rows=9, grid_row=4):
    lines = ["id,image,source,edit"]
    for i in range(rows):
        write_image(folder / f"i{i}.png", seed=i)
        lines.append(f"r{i},i{i}.png,\"{SOURCE_13}\",{'flip-each' if i == grid_row else 'Blond_Hair=1;Male=1'}")
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    return folder / "m.csv"


def _report(out):
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _run(manifest, out, ckpt, backend):
    options = RunOptions(out_dir=out, checkpoint=ckpt, log=lambda m: None, engine=EngineOptions(batch_size=4))
    return run_manifest(manifest, options, editor=Editor(load_checkpoint(ckpt), backend))


def test_two_lanes_write_exactly_what_one_lane_writes(tmp_path, tiny_checkpoint):
    torch.manual_seed(0)
    manifest = _manifest(tmp_path)
    serial = Lanes(load_checkpoint(tiny_checkpoint).generator, 1)
    parallel = Lanes(load_checkpoint(tiny_checkpoint).generator, 2)
    a = _run(manifest, tmp_path / "one", tiny_checkpoint, serial)
    b = _run(manifest, tmp_path / "two", tiny_checkpoint, parallel)
    assert a.ok == b.ok == 9 and a.failed == b.failed == 0
    assert parallel.most_active == 2 and serial.most_active == 1
    # the flip-each row's 14 images span several batches, finished by different threads
    for row in _report(tmp_path / "one").values():
        assert (tmp_path / "one" / row["output"]).read_bytes() == (tmp_path / "two" / row["output"]).read_bytes()


def test_a_failing_batch_fails_only_its_rows(tmp_path, tiny_checkpoint):
    manifest = _manifest(tmp_path, rows=12)  # r0-r3 go as one batch before the manifest's end
    backend = Lanes(load_checkpoint(tiny_checkpoint).generator, 2, fail_call=1)
    summary = _run(manifest, tmp_path / "out", tiny_checkpoint, backend)
    report = _report(tmp_path / "out")
    failed = {k for k, r in report.items() if r["status"] == "failed"}
    assert failed == {"r0", "r1", "r2", "r3"}, "the first batch of four rows"
    assert all("generator failed on this batch: RuntimeError: simulated engine fault" in report[k]["error"]
               for k in failed)
    assert summary.ok == 8 and summary.exit_code == 1
    assert all((tmp_path / "out" / report[k]["output"]).is_file() for k in report if k not in failed)


def test_the_last_rows_are_cut_into_small_parts_for_the_lanes(tmp_path, tiny_checkpoint):
    """With 20 rows, batch 4 and a window of 8 rows, 12 rows go as whole batches before the
    manifest is read to its end; the last 8 go in parts of one (4 / two parts per lane), so no
    lane is left finishing a whole batch alone. One lane keeps whole batches to the end."""
    manifest = _manifest(tmp_path, rows=20, grid_row=None)
    parallel = Lanes(load_checkpoint(tiny_checkpoint).generator, 2)
    serial = Lanes(load_checkpoint(tiny_checkpoint).generator, 1)
    assert _run(manifest, tmp_path / "two", tiny_checkpoint, parallel).ok == 20
    assert _run(manifest, tmp_path / "one", tiny_checkpoint, serial).ok == 20
    assert sorted(parallel.sizes) == [1] * 8 + [4] * 3
    assert serial.sizes == [4] * 5
    for row in _report(tmp_path / "one").values():
        assert (tmp_path / "one" / row["output"]).read_bytes() == (tmp_path / "two" / row["output"]).read_bytes()
