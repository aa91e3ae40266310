"""Decode memory is bounded in bytes by one budget that every decode thread shares."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from attgan_batch.data.decode_budget import DecodeBudget, decode_cost
from attgan_batch.data.images import load_rgb
from attgan_batch.errors import RowError


def _deep_png(path, side=1200, seed=0):
    arr = np.random.default_rng(seed).integers(0, 65535, (side, side), dtype=np.uint16)
    Image.fromarray(arr).save(path)  # uint16 -> a 16-bit greyscale PNG
    return path


def test_threads_sharing_a_budget_never_hold_more_than_it(tmp_path):
    paths = [_deep_png(tmp_path / f"d{i}.png", seed=i) for i in range(4)]
    with Image.open(paths[0]) as img:
        one = decode_cost(img, crop_copy=False)
    budget = DecodeBudget(int(one * 1.5))  # room for one decode at a time, not two
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda p: load_rgb(p, budget=budget), paths))
    assert all(im.mode == "RGB" and im.size == (1200, 1200) for im in images)
    assert one <= budget.peak <= budget.max_bytes  # -j 4 did not multiply the memory held
    assert budget.in_use == 0


def test_a_decode_bigger_than_the_whole_budget_fails_its_row_at_once(tmp_path):
    path = _deep_png(tmp_path / "big.png")
    with pytest.raises(RowError, match="more than the whole decode budget"):
        load_rgb(path, budget=DecodeBudget(1 << 20))


def test_waiting_decodes_are_served_in_order():
    budget = DecodeBudget(100)
    order, started = [], threading.Event()

    def hold():
        with budget.reserve(100, "first"):
            started.set()
            order.append("first")
            threading.Event().wait(0.05)

    first = threading.Thread(target=hold)
    first.start()
    started.wait()
    with budget.reserve(60, "second"):
        order.append("second")
    first.join()
    assert order == ["first", "second"] and budget.peak == 100


def test_run_decode_memory_option_reaches_the_decoders(tmp_path, tiny_checkpoint):
    from click.testing import CliRunner

    from attgan_batch.cli import main

    Image.fromarray(np.zeros((4000, 4000), dtype=np.uint16)).save(tmp_path / "deep.png")  # ~110 MB decoded
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    (tmp_path / "m.csv").write_text('id,image,source,edit\nbig,deep.png,Young,Male=1\nsmall,small.png,Young,Male=1\n')
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), "-c",
                                       str(tiny_checkpoint), "--backend", "torch", "-q", "--decode-memory", "64"])
    assert result.exit_code == 1
    report = (tmp_path / "o" / "report.csv").read_text()
    assert "more than the whole decode budget of 64 MiB" in report and "raise --decode-memory" in report
    assert report.count(",ok,") == 1  # the small row still ran
