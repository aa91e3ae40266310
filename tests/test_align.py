"""--align on real photos: public-domain portraits that ship inside PyPI wheels (scikit-image's
astronaut, Eileen Collins, NASA; matplotlib's Grace Hopper, US Navy), a real OpenCV detector,
the real pipeline writing real files."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from attgan_batch.align import AlignOptions, align_photo
from attgan_batch.align.geometry import apply, celeba_crop_eyes, similarity
from attgan_batch.data.images import to_uint8
from attgan_batch.pipeline import EngineOptions, OutputOptions, PhotoOptions, RunOptions, run_manifest
from conftest import SOURCE_13, write_checkpoint, write_image

cv2 = pytest.importorskip("cv2", reason="--align needs opencv-python-headless<5 (pip install -e '.[dev]')")
if not getattr(getattr(cv2, "data", None), "haarcascades", None):
    pytest.skip("this OpenCV ships no Haar cascades (5.x); install opencv-python-headless<5",
                allow_module_level=True)


def _packaged(module: str, relative: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        pytest.skip(f"{module} is not installed (it ships the test photo {relative}); pip install -e '.[dev]'")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        pytest.skip(f"{path} is missing from this {module} install")
    return path


@pytest.fixture(scope="module")
def astronaut() -> Path:
    return _packaged("skimage", "data/astronaut.png")


@pytest.fixture(scope="module")
def grace() -> Path:
    return _packaged("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")


@pytest.fixture(scope="module", params=["astronaut", "grace"])
def photo(request) -> Path:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ck") / "tiny", img_size=32, with_d=True)


def _run(tmp_path: Path, rows: list[dict], out: str = "out", *, checkpoint: Path, align: AlignOptions,
         grid: bool = False, compose: str = "auto") -> tuple[Path, dict[str, dict]]:
    manifest = tmp_path / f"{out}.csv"
    columns = ["id", "image", "source", "edit", "output"]
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows([{c: r.get(c, "") for c in columns} for r in rows])
    out_dir = tmp_path / out
    run_manifest(manifest, RunOptions(out_dir=out_dir, checkpoint=checkpoint, engine=EngineOptions(backend="torch", device="cpu"),
                                      photo=PhotoOptions(align=align), output=OutputOptions(grid=grid, compose=compose)))
    with open(out_dir / "report.csv", newline="") as fh:
        return out_dir, {r["id"]: r for r in csv.DictReader(fh)}


# ---------------------------------------------------------------- geometry (no detector)
def test_celeba_targets_follow_the_reference_crop():
    # CelebA aligned eyes (69, 111) and (108, 111) minus the centre-170 crop's corner (4, 24)
    assert celeba_crop_eyes(170) == pytest.approx(np.array([[65.5, 87.5], [104.5, 87.5]]))
    assert celeba_crop_eyes(128) == pytest.approx(np.array([[65.5, 87.5], [104.5, 87.5]]) * 128 / 170)
    wide = celeba_crop_eyes(170, margin=0.5)  # twice the side: eyes closer to the centre, half as far apart
    assert wide[1, 0] - wide[0, 0] == pytest.approx(39 / 2)


def test_warp_puts_marked_points_on_the_targets():
    """Two dots drawn in a photo land on the CelebA eye targets of the aligned crop."""
    from attgan_batch.align.geometry import align_matrix
    from attgan_batch.align.warp import warp_to_crop

    photo = np.zeros((900, 1200, 3), np.uint8)
    eyes = np.array([[500.0, 420.0], [640.0, 470.0]])  # tilted, far apart: rotation + shrink
    for x, y in eyes:
        cv2.circle(photo, (int(x), int(y)), 6, (255, 255, 255), -1)  # centred on pixel (x, y)
    m = align_matrix(*(eyes + 0.5), size=128)  # pixel index -> continuous centre
    crop = warp_to_crop(photo, m, 128).astype(float)[..., 0]
    target = celeba_crop_eyes(128)
    for tx, ty in target:
        ys, xs = np.mgrid[0:128, 0:128]
        near = (np.abs(xs + 0.5 - tx) < 8) & (np.abs(ys + 0.5 - ty) < 8)
        w = crop * near
        centroid = np.array([(w * (xs + 0.5)).sum(), (w * (ys + 0.5)).sum()]) / w.sum()
        assert centroid == pytest.approx([tx, ty], abs=0.35)
    assert apply(similarity(eyes, target), eyes) == pytest.approx(target)


# ---------------------------------------------------------------- detection on real photos
def test_one_face_found_with_eyes_from_the_eye_cascade(photo):
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    aligned = align_photo(rgb, 128, AlignOptions())
    assert aligned.found == 1
    face = aligned.faces[0].face
    assert face.eyes_from == "eye cascade", aligned.notes
    x, y, w, h = face.box
    for ex, ey in (face.left_eye, face.right_eye):
        assert x < ex < x + w and y < ey < y + 0.6 * h
    assert face.left_eye[0] < face.right_eye[0]


def test_aligned_crop_has_the_eyes_where_celeba_has_them(photo):
    """Re-detect the eyes in the aligned crop: they sit within a few pixels of CelebA's."""
    from attgan_batch.align.photo import default_detector

    size = 256
    crop = to_uint8(align_photo(Image.open(photo), size, AlignOptions()).x)
    again = default_detector().detect(crop)
    assert len(again) == 1 and again[0].eyes_from == "eye cascade"
    found = np.array([again[0].left_eye, again[0].right_eye])
    error = np.linalg.norm(found - celeba_crop_eyes(size), axis=1)
    assert error.max() < 4.0, (found, celeba_crop_eyes(size))  # 4 px of 256 = 2.7 px in the 170 crop


# ---------------------------------------------------------------- the pipeline
@pytest.mark.parametrize("compose", ["replace", "residual"])
def test_pasted_photo_keeps_size_and_everything_outside_the_face(tmp_path, astronaut, grace, checkpoint, compose):
    from attgan_batch.align.warp import region_mask

    rows = [{"id": "astro", "image": str(astronaut), "source": SOURCE_13, "edit": "Blond_Hair=1",
             "output": "astro.png"},
            {"id": "grace", "image": str(grace), "source": SOURCE_13, "edit": "Eyeglasses=flip",
             "output": "grace.jpg"}]
    out, report = _run(tmp_path, rows, checkpoint=checkpoint, align=AlignOptions(), compose=compose)
    for row_id, src in (("astro", astronaut), ("grace", grace)):
        assert report[row_id]["status"] == "ok", report[row_id]
        assert "aligned 1 of 1 face(s)" in report[row_id]["note"]
        assert ("composed as a residual" in report[row_id]["note"]) == (compose == "residual")
        original = np.asarray(Image.open(src).convert("RGB")).astype(int)
        edited = np.asarray(Image.open(out / report[row_id]["output"]).convert("RGB")).astype(int)
        assert edited.shape == original.shape
        aligned = align_photo(Image.open(src), 32, AlignOptions())
        inside = region_mask(original.shape[:2], aligned.faces[0].matrix, 32, grow=2)
        diff = np.abs(edited - original).max(axis=2)
        assert 0.02 < inside.mean() < 0.6
        # the random model changed the face (the whole face, or under residual only what the edit moves)
        assert diff[inside].mean() > (10 if compose == "replace" else 0.2)
        outside = diff[~inside]
        if row_id == "astro":  # PNG: bit for bit
            assert outside.max() == 0
        else:  # JPEG (quality 95): only re-encoding noise
            assert outside.mean() < 1.5 and np.percentile(outside, 99) <= 8


def test_no_face_fails_the_row_clearly_and_others_proceed(tmp_path, grace, checkpoint):
    noise = write_image(tmp_path / "noise.png", size=(300, 300), seed=3)
    rows = [{"id": "noise", "image": str(noise), "source": SOURCE_13, "edit": "Male=1"},
            {"id": "grace", "image": str(grace), "source": SOURCE_13, "edit": "Male=1"}]
    _, report = _run(tmp_path, rows, checkpoint=checkpoint, align=AlignOptions())
    assert report["noise"]["status"] == "failed"
    assert report["noise"]["error"].startswith("no face detected")
    assert report["grace"]["status"] == "ok"


def test_face_selection_all_index_and_out_of_range(tmp_path, astronaut, grace, checkpoint):
    a, g = Image.open(astronaut).convert("RGB"), Image.open(grace).convert("RGB")
    pair = Image.new("RGB", (a.width + g.width, g.height), (200, 200, 200))
    pair.paste(a, (0, 0))
    pair.paste(g, (a.width, 0))
    pair.save(tmp_path / "pair.png")
    rows = [{"id": "pair", "image": str(tmp_path / "pair.png"), "source": SOURCE_13, "edit": "Male=1",
             "output": "pair.png"}]
    out, report = _run(tmp_path, rows, "all", checkpoint=checkpoint, align=AlignOptions(face="all"))
    assert report["pair"]["status"] == "ok" and "aligned 2 of 2 face(s)" in report["pair"]["note"]
    assert report["pair"]["applied"].count(" | ") == 1  # one vector per face
    both = np.asarray(Image.open(out / "pair.png")).astype(int)
    assert both.shape[:2] == (pair.height, pair.width)
    changed = np.abs(both - np.asarray(pair).astype(int)).max(axis=2) > 0
    assert changed[:, : a.width].any() and changed[:, a.width:].any()

    from attgan_batch.errors import RowError

    one = align_photo(pair, 32, AlignOptions(face=1))
    assert [f.index for f in one.faces] == [1] and one.faces[0].face.box[0] > a.width  # counted from the left
    with pytest.raises(RowError, match=r"--face 2: the photo has 2 detected face\(s\)"):
        align_photo(pair, 32, AlignOptions(face=2))


def test_no_paste_grid_and_predicted_source(tmp_path, astronaut, checkpoint):
    rows = [{"id": "crop", "image": str(astronaut), "edit": "Bangs=1", "output": "crop.png"}]
    out, report = _run(tmp_path, rows, checkpoint=checkpoint, align=AlignOptions(paste=False), grid=True)
    row = report["crop"]
    assert row["status"] == "ok", row
    assert Image.open(out / "crop.png").size == (32, 32)
    assert "not pasted back" in row["note"] and "grid: crop.grid.png" in row["note"]
    assert row["source_predicted"].count("=") == 13 and ":" in row["source_predicted"]
    assert "face before" in (out / "report.html").read_text()  # the crops, not just the whole photo
    grid = Image.open(out / "crop.grid.png")
    assert grid.size == (3 * 32, 32 + 26)  # input, recon, the edit; "Bangs=1" wraps to two caption lines


@pytest.mark.parametrize("compose", ["auto", "replace"])
def test_python_api_gives_what_run_writes(tmp_path, astronaut, checkpoint, compose):
    """Editor.edit(align=...) composes as `run --align` does: a residual by default, same pixels."""
    from attgan_batch import Editor

    rows = [{"id": "astro", "image": str(astronaut), "source": SOURCE_13, "edit": "Blond_Hair=1",
             "output": "astro.png"}]
    out, report = _run(tmp_path, rows, checkpoint=checkpoint, align=AlignOptions(), compose=compose)
    assert ("composed as a residual" in report["astro"]["note"]) == (compose == "auto")
    editor = Editor.from_checkpoint(checkpoint, device="cpu")
    [api] = editor.edit([astronaut], ["Blond_Hair=1"], sources=[SOURCE_13], align=AlignOptions(), compose=compose)
    written = np.asarray(Image.open(out / "astro.png").convert("RGB")).astype(int)
    assert np.abs(np.asarray(api).astype(int) - written).max() <= 1  # torch in both; rounding only
    other = "replace" if compose == "auto" else "residual"
    [elsewise] = editor.edit([astronaut], ["Blond_Hair=1"], sources=[SOURCE_13], align=AlignOptions(), compose=other)
    assert np.abs(np.asarray(elsewise).astype(int) - written).max() > 10


def test_python_api_edits_the_whole_photo(grace, checkpoint):
    from attgan_batch import Editor

    editor = Editor.from_checkpoint(checkpoint, device="cpu")
    [out, crops] = editor.edit([grace, grace], ["Male=1", "flip-each"], sources=[SOURCE_13] * 2,
                               align=AlignOptions())
    assert out.size == Image.open(grace).size
    assert crops.size[0] == 15 * 32  # flip-each: input, recon and 13 flips of the aligned crop
    assert crops.size[1] > 32  # with whole captions above the tiles


def test_cli_align_options(tmp_path, grace, checkpoint):
    from attgan_batch.cli import main

    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,image,source,edit\ng,{grace},\"{SOURCE_13}\",Male=1\n")
    out = tmp_path / "out"
    base = ["run", str(manifest), "--out", str(out), "-c", str(checkpoint), "--backend", "torch", "-q"]
    result = CliRunner().invoke(main, base + ["--face", "all"])
    assert result.exit_code == 2 and "only apply with --align" in result.output
    result = CliRunner().invoke(main, base + ["--align", "--face", "left"])
    assert result.exit_code == 2 and "--face" in result.output
    result = CliRunner().invoke(main, base + ["--align", "--face", "0", "--margin", "0.1"])
    assert result.exit_code == 0, result.output
    assert Image.open(out / "g.png").size == Image.open(grace).size
    summary = json.loads((out / "report.json").read_text())
    assert summary["counts"]["ok"] == 1
