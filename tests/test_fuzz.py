"""Property tests: no input makes the parsers raise anything but the tool's own errors."""
from __future__ import annotations

import csv
import math
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attgan_batch.attributes import parse_edit, parse_vector, plan_edit, plan_flip_each, plan_target
from attgan_batch.errors import AttGANBatchError, RowError
from attgan_batch.manifest import ManifestReader, ManifestRow, RowFailure
from attgan_batch.model import DEFAULT_ATTRS as NAMES

SOURCE = [0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1]
edit_alphabet = st.sampled_from(list("=;:~+-.@ eE0123456789") + ["flip", "Male", "Bald", "Bangs", "nan", "inf",
                                                                 "Blond_Hair", "flip-each", "recon", "\x00", "é"])
edit_texts = st.one_of(st.text(max_size=40), st.lists(edit_alphabet, max_size=12).map("".join))


def _check_plan(plan) -> None:
    assert len(plan.scaled) == len(NAMES) and all(math.isfinite(v) for v in plan.scaled)
    assert set(plan.target) <= {0, 1}


@settings(max_examples=400, deadline=None)
@given(edit_texts)
def test_edit_parser_raises_only_row_errors(text):
    try:
        spec = parse_edit(text, NAMES)
    except RowError:
        return
    if spec.flip_each:
        for plan in plan_flip_each(SOURCE, NAMES):
            _check_plan(plan)
    else:
        _check_plan(plan_edit(SOURCE, spec, NAMES))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(["0", "1", "-1", ",", " ", ";", "2", "nan", "1e0"]),
                                                  max_size=30).map("".join)))
def test_vector_parser_raises_only_row_errors(text):
    try:
        labels = parse_vector(text, NAMES)
    except RowError:
        return
    assert len(labels) == 13 and set(labels) <= {0, 1}
    _check_plan(plan_target(SOURCE, labels, NAMES))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_manifest_reader_raises_only_tool_errors(tmp_path, data):
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    try:
        for item in ManifestReader(path, NAMES, tmp_path / "out"):
            assert isinstance(item, (ManifestRow, RowFailure))
            if isinstance(item, RowFailure):
                assert item.error
    except (AttGANBatchError, UnicodeEncodeError) as exc:
        assert str(exc)


def _random_row(rng: random.Random, i: int) -> list[str]:
    def vector() -> str:
        n = rng.choice([13, 13, 13, 12, 14])
        values = [rng.choice(["0", "1"]) if rng.random() < 0.97 else rng.choice(["2", "x", "nan", "-1", "inf"])
                  for _ in range(n)]
        return ",".join(values)

    def edit() -> str:
        items = []
        for _ in range(rng.randint(0, 3)):
            name = rng.choice(NAMES + ["Beard", "blond_hair", ""])
            value = rng.choice(["1", "0", "-1", "+1.5", "-0.7", "flip", "flip@0.5", "abc", "+0"])
            items.append(rng.choice([f"{name}={value}", f"~{name}", f"{name}:={value}"]))
        return rng.choice([";".join(items), "flip-each", "", "recon"])

    row_id = rng.choice([f"r{i}", f"r{i}", f"r{rng.randint(0, i)}", ""])
    output = rng.choice(["", "", f"o/{i}.png", "../x.png", "/abs.png", f"{i}.jpg"])
    use_target = rng.random() < 0.2
    return [row_id, f"img{i % 7}.png", vector() if rng.random() < 0.9 else "", "" if use_target else edit(),
            vector() if use_target else "", rng.choice(["", "", "0.8", "-1", "x"]), output]


def test_ten_thousand_generated_rows(tmp_path):
    rng = random.Random(20261127)
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit", "target", "intensity", "output"])
        for i in range(10_000):
            writer.writerow(_random_row(rng, i))
    ok = failed = 0
    for item in ManifestReader(path, NAMES, tmp_path / "out"):
        if isinstance(item, RowFailure):
            failed += 1
            assert item.error
            continue
        ok += 1
        assert not Path(item.output).is_absolute() and ".." not in Path(item.output).parts
        try:
            if item.target is not None:
                plans = [plan_target(item.source, item.target, NAMES)]
            elif item.source is None:
                continue  # would be predicted by D at run time
            elif item.edit.flip_each:
                plans = plan_flip_each(item.source, NAMES)
            else:
                plans = [plan_edit(item.source, item.edit, NAMES, test_int=item.intensity or 1.0)]
        except RowError:
            continue
        for plan in plans:
            _check_plan(plan)
    assert ok + failed == 10_000 and ok > 1000 and failed > 1000


# ------------------------------------------------------------------ structure the reader must survive
_cells = st.one_of(st.sampled_from(["a.png", "Male=1", "0,1", "", " ", "x\ny", "x\r\ny", '"q"', "r1"]),
                   st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                   st.integers(min_value=1, max_value=4).map(lambda k: "e" * (k * 70_000)))  # oversize cells


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(header=st.lists(st.sampled_from(["id", "image", "edit", "source", "output", "image", "Image", "edits"]),
                       min_size=1, max_size=5),
       rows=st.lists(st.lists(_cells, min_size=0, max_size=6), max_size=6),
       blank_lines=st.lists(st.booleans(), max_size=6))
def test_manifest_structure_quoted_newlines_oversize_cells_duplicate_columns(tmp_path, header, rows, blank_lines):
    """Every row the reader yields starts on the physical line it reports; duplicate columns and
    misspelled columns are refused as a whole; an oversize cell fails only its row."""
    path = tmp_path / "m.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i, row in enumerate(rows):
            if i < len(blank_lines) and blank_lines[i]:
                fh.write("\r\n")
            writer.writerow(row)
    try:
        items = list(ManifestReader(path, NAMES, tmp_path / "out"))
    except AttGANBatchError as exc:
        lowered = [h.lower() for h in header]
        assert str(exc) and ("image" not in lowered or len(set(lowered)) < len(lowered) or "edits" in lowered
                             or not any(any(c.strip() for c in r) for r in rows) or "line" in str(exc))
        return
    physical = path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    for item in items:
        assert 2 <= item.line <= len(physical)
        if isinstance(item, RowFailure) and "KiB" in item.error:
            assert "over the 128 KiB limit" in item.error and len(item.id) < 300
