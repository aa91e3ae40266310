"""--shard K/N and `report merge`: stable assignment, shared --out, exact coverage checks."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from attgan_batch.cli import main
from attgan_batch.lock import OutputLocked, RunLock
from attgan_batch.pipeline import EngineOptions, RunOptions, ScaleOptions, run_manifest
from attgan_batch.shards import Shard, select, shard_of
from conftest import SOURCE_13, write_image

COMPARED = ["line", "id", "input", "output", "status", "error", "edit", "source", "source_predicted", "target",
            "applied", "edited", "conflicts"]


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as fh:
        return {r["line"]: {k: r[k] for k in COMPARED} for r in csv.DictReader(fh)}


@pytest.fixture
def manifest(tmp_path) -> Path:
    """30 rows: named and unnamed ids, a grid, a missing image, a bad vector, a duplicate id."""
    write_image(tmp_path / "a.png", seed=1)
    write_image(tmp_path / "b.png", size=(50, 40), seed=2)
    rows = [{"id": f"r{i:02d}" if i % 4 else "", "image": "a.png" if i % 2 else "b.png", "source": SOURCE_13,
             "edit": ["Male=1", "Blond_Hair=1", "Young=0;Eyeglasses=1", "~Bald"][i % 4]} for i in range(24)]
    rows += [{"id": "grid", "image": "a.png", "source": SOURCE_13, "edit": "flip-each"},
             {"id": "missing", "image": "nope.png", "source": SOURCE_13, "edit": "Male=1"},
             {"id": "bad-vector", "image": "a.png", "source": "0,1", "edit": "Male=1"},
             {"id": "r01", "image": "a.png", "source": SOURCE_13, "edit": "Male=0"},  # duplicate id
             {"id": "", "image": "b.png", "source": SOURCE_13, "edit": ""},
             {"id": "last", "image": "b.png", "source": SOURCE_13, "edit": "Pale_Skin=flip@0.5"}]
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "image", "source", "edit"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _options(out: Path, ckpt: Path, shard: Shard | None = None) -> RunOptions:
    return RunOptions(out_dir=out, checkpoint=ckpt, engine=EngineOptions(backend="torch", batch_size=4),
                      scale=ScaleOptions(shard=shard))


# ------------------------------------------------------------------ assignment


def test_shard_of_is_sha1_of_the_row_id_and_ignores_the_hash_seed():
    for row_id in ["r1", "row17", "img-0001-blond", "ünïcode", ""]:
        expected = 1 + int(hashlib.sha1(row_id.encode()).hexdigest()[:16], 16) % 7
        assert shard_of(row_id, 7) == expected
    code = "from attgan_batch.shards import shard_of; print([shard_of(f'r{i}', 5) for i in range(50)])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "12345")}
    assert len(outs) == 1


def test_every_id_is_in_exactly_one_shard_and_shards_are_balanced():
    class Item:
        def __init__(self, i):
            self.id = f"row{i}"

    items = [Item(i) for i in range(3000)]
    parts = [[it.id for it in select(items, Shard(k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(it.id for it in items)
    assert all(900 < len(p) < 1100 for p in parts), [len(p) for p in parts]


@pytest.mark.parametrize("text, fragment", [("0/3", "numbered 1..3"), ("4/3", "K must be 1..3"),
                                            ("1/0", "between 1 and"), ("2", "expected K/N"), ("a/b", "expected K/N")])
def test_bad_shard_specs_are_refused_with_the_reason(text, fragment):
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
        Shard.parse(text)
    result = CliRunner().invoke(main, ["run", "m.csv", "--out", "o", "--shard", text])
    assert result.exit_code == 2 and fragment in result.output


# ------------------------------------------------------------------ runs and merge


def test_three_concurrent_shards_merge_to_the_single_run_report(tmp_path, tiny_checkpoint, manifest):
    single = run_manifest(manifest, _options(tmp_path / "single", tiny_checkpoint))
    out = tmp_path / "sharded"
    summaries = {}

    def shard_run(k):
        summaries[k] = run_manifest(manifest, _options(out, tiny_checkpoint, Shard(k, 3)))

    threads = [threading.Thread(target=shard_run, args=(k,)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(summaries) == [1, 2, 3]
    assert sum(s.rows for s in summaries.values()) == single.rows == 30
    assert not (out / "report.csv").exists()
    for k in (1, 2, 3):
        assert (out / f"report.{k}-of-3.csv").is_file() and (out / f"report.{k}-of-3.json").is_file()
        assert (out / ".attgan-batch" / f"journal.{k}-of-3.jsonl").is_file()
        assert not (out / ".attgan-batch" / f"lock.{k}-of-3").exists()

    result = CliRunner().invoke(main, ["report", "merge", str(out)])
    assert result.exit_code == 1, result.output  # some rows fail in both runs: same exit code as the run
    merged, reference = _rows(out / "report.csv"), _rows(tmp_path / "single" / "report.csv")
    assert merged == reference
    assert list(merged) == sorted(merged, key=int)  # manifest order
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"] == {"rows": 30, "ok": single.ok, "failed": single.failed, "skipped": 0, "resumed": 0}
    assert summary["exit_code"] == single.exit_code == 1
    assert [s["shard"] for s in summary["shards"]] == ["1/3", "2/3", "3/3"]
    for row in reference.values():
        if row["status"] == "ok":
            a = np.asarray(Image.open(out / row["output"]), dtype=int)
            b = np.asarray(Image.open(tmp_path / "single" / row["output"]), dtype=int)
            assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_a_shard_resumes_from_its_own_journal(tmp_path, tiny_checkpoint, manifest):
    out = tmp_path / "out"
    first = run_manifest(manifest, _options(out, tiny_checkpoint, Shard(2, 3)))
    again = run_manifest(manifest, _options(out, tiny_checkpoint, Shard(2, 3)))
    assert again.resumed == first.ok > 0 and again.rows == first.rows
    other = run_manifest(manifest, _options(out, tiny_checkpoint, Shard(1, 3)))
    assert other.resumed == 0  # shard 1 does not read shard 2's journal


def test_locks_are_per_shard(tmp_path, tiny_checkpoint, manifest):
    out = tmp_path / "out"
    with RunLock(out / ".attgan-batch" / "lock.1-of-2"):  # shard 1 "running" (this live process)
        run_manifest(manifest, _options(out, tiny_checkpoint, Shard(2, 2)))  # not blocked
        with pytest.raises(OutputLocked):
            run_manifest(manifest, _options(out, tiny_checkpoint, Shard(1, 2)))
        merge = CliRunner().invoke(main, ["report", "merge", str(out)])
        assert merge.exit_code == 1 and "report.1-of-2.csv is missing" in merge.output


@pytest.fixture
def two_shards(tmp_path, tiny_checkpoint, manifest) -> Path:
    out = tmp_path / "out"
    for k in (1, 2):
        run_manifest(manifest, _options(out, tiny_checkpoint, Shard(k, 2)))
    return out


def _edit_report(path: Path, change) -> None:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_merge_lists_missing_and_duplicate_rows_and_writes_nothing(two_shards):
    first = two_shards / "report.1-of-2.csv"
    dropped = {}

    def drop_two(rows):
        dropped.update({r["id"]: r["line"] for r in rows[:2]})
        return rows[2:]

    _edit_report(first, drop_two)
    with open(first, newline="") as fh:
        stolen = next(csv.DictReader(fh))
    _edit_report(two_shards / "report.2-of-2.csv", lambda rows: rows + [stolen])
    result = CliRunner().invoke(main, ["report", "merge", str(two_shards)])
    assert result.exit_code == 1
    assert "2 row(s) missing from every shard report" in result.output
    for row_id, line in dropped.items():
        assert f"{row_id} (line {line}" in result.output
    assert f"{stolen['id']} (line {stolen['line']}) in shards 1, 2" in result.output
    assert "nothing was written" in result.output
    assert not (two_shards / "report.csv").exists() and not (two_shards / "report.json").exists()


def test_merge_refuses_mixed_splits_and_a_changed_manifest(two_shards, manifest, tmp_path):
    (two_shards / "report.1-of-3.csv").write_text("line,id\n")
    result = CliRunner().invoke(main, ["report", "merge", str(two_shards)])
    assert result.exit_code == 1 and "reports of 2 shards" in result.output and "reports of 3 shards" in result.output
    (two_shards / "report.1-of-3.csv").unlink()

    edited = tmp_path / "edited.csv"
    lines = manifest.read_text().splitlines()
    edited.write_text("\n".join(lines[:3] + lines[4:]) + "\n")  # one row deleted: later lines shift
    result = CliRunner().invoke(main, ["report", "merge", str(two_shards), "--manifest", str(edited)])
    assert result.exit_code == 1 and "was the manifest edited between shards?" in result.output

    result = CliRunner().invoke(main, ["report", "merge", str(two_shards), "--manifest", str(manifest)])
    assert result.exit_code == 1  # the manifest has failing rows; the merge itself succeeded
    assert (two_shards / "report.csv").is_file()


def test_merge_waits_for_running_shards(two_shards):
    with RunLock(two_shards / ".attgan-batch" / "lock.2-of-2"):  # shard 2 rerunning (this live process)
        result = CliRunner().invoke(main, ["report", "merge", str(two_shards)])
    assert result.exit_code == 2 and "another attgan-batch run" in result.output
    assert not (two_shards / "report.csv").exists()


def test_merge_with_nothing_to_merge_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["report", "merge", str(tmp_path)])
    assert result.exit_code == 2 and "no shard reports" in result.output
