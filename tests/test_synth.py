"""The synthetic face set: files, labels, conflict rules, counterfactuals, visibility, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from attgan_batch.cli import main
from attgan_batch.data.attr_file import read_attr_file, read_partition
from attgan_batch.data.synth import (
    SYNTH_ATTRS, FaceParams, flip, generate_dataset, read_counterfactual_index, render_face, sample_face,
)
from attgan_batch.model.config import DEFAULT_ATTRS

N, SIZE, SEED = 40, 32, 7


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synth"), N, SIZE, SEED, counterfactuals=True, workers=2)


def _violations(a: dict[str, int]) -> list[str]:
    out = []
    if a["Bald"] and a["Bangs"]:
        out.append("Bald and Bangs")
    if a["Black_Hair"] + a["Blond_Hair"] + a["Brown_Hair"] > 1:
        out.append("two hair colours")
    if a["Mustache"] and a["No_Beard"]:
        out.append("Mustache and No_Beard")
    return out


def test_attribute_list_is_the_models_default():
    assert SYNTH_ATTRS == DEFAULT_ATTRS


def test_dataset_files_and_labels_round_trip(synth_dir):
    names = sorted(p.name for p in (synth_dir / "images").iterdir())
    assert names == [f"{i:06d}.png" for i in range(1, N + 1)]
    with Image.open(synth_dir / "images" / "000001.png") as img:
        assert img.size == (SIZE, SIZE) and img.mode == "RGB"

    lines = (synth_dir / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == str(N) and lines[1].split() == SYNTH_ATTRS
    table = read_attr_file(synth_dir / "list_attr_celeba.txt")
    assert table.files == names
    for i, row in enumerate(table.labels):
        attrs, _ = sample_face(SEED, i)
        assert [attrs[a] for a in SYNTH_ATTRS] == row.tolist()
        assert not _violations(attrs)
    # every attribute occurs both on and off, so a classifier can learn it
    assert (table.labels.min(0) == 0).all() and (table.labels.max(0) == 1).all()

    splits = read_partition(synth_dir / "list_eval_partition.txt")
    assert [splits[n] for n in names] == [0] * 32 + [1] * 4 + [2] * 4


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), index=st.integers(0, 10**6))
def test_conflict_rules_hold_on_every_sampled_vector(seed, index):
    attrs, _ = sample_face(seed, index)
    assert set(attrs) == set(SYNTH_ATTRS)
    assert not _violations(attrs)


def test_flip_applies_the_reference_rules():
    a = {n: 0 for n in SYNTH_ATTRS} | {"Black_Hair": 1, "No_Beard": 1, "Bangs": 1}
    assert flip(a, "Blond_Hair")["Black_Hair"] == 0
    assert flip(a, "Bald")["Bangs"] == 0
    assert flip(a, "Mustache")["No_Beard"] == 0
    off = flip(a, "Black_Hair")
    assert off["Black_Hair"] == 0 and off["Bangs"] == 1 and off["No_Beard"] == 1


def test_counterfactual_index_matches_flips(synth_dir):
    rows = read_counterfactual_index(synth_dir)
    table = read_attr_file(synth_dir / "list_attr_celeba.txt")
    test_files = [f"images/{i:06d}.png" for i in range(37, 41)]
    assert sorted({r["original"] for r in rows}) == test_files
    assert len(rows) == 4 * len(SYNTH_ATTRS)
    for r in rows:
        original = dict(zip(SYNTH_ATTRS, table.labels[table.files.index(r["original"][7:])].tolist()))
        assert r["labels"] == flip(original, r["attribute"])
        assert r["labels"][r["attribute"]] != original[r["attribute"]]
        assert not _violations(r["labels"])
        path = synth_dir / r["path"]
        assert path.is_file() and path.name == f"{r['original'][7:13]}_{r['attribute']}.png"
        # same nuisance parameters: the counterfactual is the stored render of the flipped vector
        _, params = sample_face(SEED, int(r["original"][7:13]) - 1)
        expected = np.asarray(render_face(r["labels"], params, SIZE))
        assert np.array_equal(np.asarray(Image.open(path)), expected)


def test_validation_counterfactuals_add_files_and_leave_the_faces_alone(synth_dir, tmp_path):
    """--counterfactual-splits val,test: the validation faces get their true edits too, nothing else changes."""
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "vt"), "--n", str(N), "--size", str(SIZE),
                                       "--seed", str(SEED), "--counterfactuals", "--counterfactual-splits",
                                       "val,test", "--workers", "1"])
    assert result.exit_code == 0, result.output
    rows = read_counterfactual_index(tmp_path / "vt")
    val_files = [f"images/{i:06d}.png" for i in range(33, 37)]  # 40 faces: 32 train, 4 val, 4 test
    assert sorted({r["original"] for r in rows}) == val_files + [f"images/{i:06d}.png" for i in range(37, 41)]
    assert {(r["original"], r["attribute"], r["path"]) for r in read_counterfactual_index(synth_dir)} < \
        {(r["original"], r["attribute"], r["path"]) for r in rows}
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        assert (tmp_path / "vt" / name).read_bytes() == (synth_dir / name).read_bytes()
    for i in (1, 34, 40):
        assert (tmp_path / "vt" / f"images/{i:06d}.png").read_bytes() == (synth_dir / f"images/{i:06d}.png").read_bytes()
    bad = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "bad"), "--n", "4", "--counterfactuals",
                                    "--counterfactual-splits", "valid"])
    assert bad.exit_code == 2 and "counterfactual-splits" in bad.output


def _upright(**changes) -> FaceParams:
    """A face at the canonical pose without noise, so regions can be checked in fixed coordinates."""
    _, p = sample_face(3, 11)
    return dataclasses.replace(p, cx=0.5, cy=0.5, scale=1.0, angle=0.0, noise=0.0, light_x=0.0, light_y=0.0,
                               **changes)


def _diff_rows_cols(a: dict[str, int], attr: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    p = _upright()
    before = np.asarray(render_face(a, p, size), dtype=np.int16)
    after = np.asarray(render_face(flip(a, attr), p, size), dtype=np.int16)
    changed = np.abs(after - before).max(-1) > 12
    ys, xs = np.nonzero(changed)
    return ys / size, xs / size


@pytest.mark.parametrize("attr, box", [
    ("Eyeglasses", (0.36, 0.54, 0.20, 0.80)),           # (y0, y1, x0, x1) in unit image coords
    ("Mouth_Slightly_Open", (0.63, 0.75, 0.40, 0.60)),
    ("Bushy_Eyebrows", (0.35, 0.44, 0.30, 0.70)),
    ("Mustache", (0.56, 0.70, 0.33, 0.67)),
])
def test_counterfactual_differs_only_around_the_flipped_attribute(attr, box):
    # bearded already (No_Beard=0), so the Mustache flip's conflict rule changes nothing else
    a = {n: 0 for n in SYNTH_ATTRS} | {"Brown_Hair": 1, "Male": 1, "No_Beard": 0, "Young": 1}
    ys, xs = _diff_rows_cols(a, attr)
    assert len(ys) >= 8, f"{attr} flip changes almost nothing"
    y0, y1, x0, x1 = box
    assert ys.min() >= y0 and ys.max() <= y1 and xs.min() >= x0 and xs.max() <= x1, (
        f"{attr} flip changed pixels outside its region: "
        f"y {ys.min():.2f}-{ys.max():.2f}, x {xs.min():.2f}-{xs.max():.2f}")


def test_every_attribute_is_visible_at_64px():
    """Each single flip must change a clear patch of a 64 px image, on several random faces."""
    for index in range(6):
        attrs, params = sample_face(123, index)
        base = np.asarray(render_face(attrs, params, 64), dtype=np.int16)
        for attr in SYNTH_ATTRS:
            other = np.asarray(render_face(flip(attrs, attr), params, 64), dtype=np.int16)
            changed = int((np.abs(other - base).max(-1) > 25).sum())
            assert changed >= 12, f"face {index}: flipping {attr} changes only {changed} pixels"


def test_output_does_not_depend_on_worker_count(tmp_path):
    one = generate_dataset(tmp_path / "one", 12, 24, 5, workers=1)
    two = generate_dataset(tmp_path / "two", 12, 24, 5, workers=2)
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt", "synth_params.jsonl"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    for k in range(1, 13):
        assert (one / f"images/{k:06d}.png").read_bytes() == (two / f"images/{k:06d}.png").read_bytes()
    other_seed = generate_dataset(tmp_path / "three", 12, 24, 6, workers=1)
    assert (other_seed / "images/000001.png").read_bytes() != (one / "images/000001.png").read_bytes()


def test_render_face_defaults_and_size():
    img = render_face({"Eyeglasses": 1}, FaceParams(), 48)
    assert img.size == (48, 48) and img.mode == "RGB"
    # missing No_Beard/Young default to on (clean-shaven, young), not to a bearded old face
    full = {n: 0 for n in SYNTH_ATTRS} | {"Eyeglasses": 1, "No_Beard": 1, "Young": 1}
    assert np.array_equal(np.asarray(img), np.asarray(render_face(full, FaceParams(), 48)))


def test_cli_synth(tmp_path):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "s"), "--n", "6", "--size", "32",
                                       "--workers", "1", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s" / "images").glob("*.png"))) == 6
    assert read_attr_file(tmp_path / "s" / "list_attr_celeba.txt").labels.shape == (6, 13)
