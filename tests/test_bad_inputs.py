"""Bad images and bad manifests: each bad row fails alone with a clear error; odd formats work."""
from __future__ import annotations

import csv
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attgan_batch.data.images import load_rgb
from attgan_batch.errors import ManifestError, RowError
from attgan_batch.manifest import ManifestReader, RowFailure, scan_manifest
from attgan_batch.model import DEFAULT_ATTRS
from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
from conftest import SOURCE_13, write_image


def _png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def _make_bad_images(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """name -> (path, expected error fragment or None when the image must succeed)."""
    folder.mkdir()
    good = write_image(folder / "good.png", size=(60, 50))
    cases: dict[str, tuple[Path, str | None]] = {"good": (good, None)}
    cases["missing"] = (folder / "missing.png", "image not found")
    (folder / "a_dir.png").mkdir()
    cases["directory"] = (folder / "a_dir.png", "is a directory")
    (folder / "zero.png").write_bytes(b"")
    cases["zero-bytes"] = (folder / "zero.png", "empty (0 bytes)")
    jpg = write_image(folder / "full.jpg", size=(80, 80), fmt="JPEG")
    (folder / "trunc.jpg").write_bytes(jpg.read_bytes()[:300])
    cases["truncated-jpeg"] = (folder / "trunc.jpg", "corrupt or truncated")
    (folder / "trunc.png").write_bytes(good.read_bytes()[:200])
    cases["truncated-png"] = (folder / "trunc.png", "corrupt or truncated")
    (folder / "text.jpg").write_text("this is not an image\n")
    cases["text-as-jpg"] = (folder / "text.jpg", "not an image file")
    cases["bomb"] = (_png_with_size(folder / "bomb.png", 40000, 40000), "decompression bomb")
    cases["grayscale"] = (write_image(folder / "gray.png", mode="L"), None)
    cases["palette"] = (write_image(folder / "pal.png", mode="P"), None)
    cases["rgba"] = (write_image(folder / "rgba.png", mode="RGBA"), None)
    cases["cmyk"] = (write_image(folder / "cmyk.jpg", mode="CMYK", fmt="JPEG"), None)
    arr16 = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)
    Image.fromarray(arr16).save(folder / "deep.png")
    assert Image.open(folder / "deep.png").mode.startswith("I")
    cases["16-bit"] = (folder / "deep.png", None)
    cases["1x1"] = (write_image(folder / "one.png", size=(1, 1)), None)
    Image.new("RGB", (4000, 3000), (120, 80, 60)).save(folder / "large.jpg", quality=50)
    cases["very-large"] = (folder / "large.jpg", None)
    cases["exif-rotated"] = (_exif_rotated(folder / "rot.jpg"), None)
    return cases


def _exif_rotated(path: Path) -> Path:
    """A 40x20 landscape JPEG (left half red) tagged orientation 6: displayed as 20x40 portrait."""
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(path, exif=exif, quality=95)
    return path


def test_exif_orientation_is_honoured(tmp_path):
    img = load_rgb(_exif_rotated(tmp_path / "r.jpg"))
    assert img.size == (20, 40)  # rotated 90° clockwise: the red left half is now on top
    top, bottom = np.asarray(img)[5, 10], np.asarray(img)[35, 10]
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200


def test_bomb_refused_before_decoding(tmp_path):
    with pytest.raises(RowError, match="decompression bomb"):
        load_rgb(_png_with_size(tmp_path / "b.png", 40000, 40000))


def test_every_bad_image_fails_its_row_and_odd_formats_succeed(tmp_path, tiny_checkpoint):
    cases = _make_bad_images(tmp_path / "imgs")
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit"])
        for name, (path, _) in cases.items():
            writer.writerow([name, str(path), SOURCE_13, "Eyeglasses=1"])
    out = tmp_path / "out"
    summary = run_manifest(manifest, RunOptions(out_dir=out, checkpoint=tiny_checkpoint,
                                                engine=EngineOptions(backend="torch", batch_size=4)))
    with open(out / "report.csv", newline="") as fh:
        report = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(report) == set(cases)
    for name, (_, expected) in cases.items():
        row = report[name]
        if expected is None:
            assert row["status"] == "ok", (name, row["error"])
            assert Image.open(out / row["output"]).size == (32, 32)
        else:
            assert row["status"] == "failed" and expected in row["error"], (name, row["error"])
    assert summary.exit_code == 1


# ----------------------------------------------------------------------------- manifests

def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("content,message", [
    ("", "is empty"),
    ("   \n\n", "is empty"),
    ("image,edit\n", "header but no rows"),
    ("picture,edit\na.png,Male=1\n", "line 1: no 'image' column"),
    ("image,edit\na.png,Male=1\nb.png,Male=1,0,1\n", "line 3: 4 fields"),
    (b"image,edit\na.png,Male=1\nb\xff\xfe.png,Male=1\n", "line 3 is not UTF-8"),
])
def test_malformed_manifests_fail_fast_with_line(tmp_path, content, message):
    path = _write(tmp_path / "m.csv", content)
    with pytest.raises(ManifestError, match=message):
        scan_manifest(path)


def _rows(tmp_path: Path, text: str, **kw):
    path = _write(tmp_path / "m.csv", text)
    reader = ManifestReader(path, DEFAULT_ATTRS, tmp_path / "out", **kw)
    return list(reader), reader


def test_bom_quoted_commas_and_unknown_columns(tmp_path):
    rows, reader = _rows(tmp_path, '\ufeffImage,Source,colour\na.png,"0,1,1,0,0,0,0,1,0,0,1,0,1",red\n')
    assert len(rows) == 1 and not isinstance(rows[0], RowFailure)
    assert rows[0].source == [0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1]
    assert any("colour" in w for w in reader.warnings)


def test_bad_rows_fail_alone(tmp_path):
    text = "id,image,source,edit\n" + "\n".join([
        f'ok,a.png,"{SOURCE_13}",Male=1',
        'short,a.png,"0,1",Male=1',
        f'word,a.png,"{SOURCE_13[:-1]}x",Male=1',
        f'nan,a.png,"{SOURCE_13[:-1]}nan",Male=1',
        f'inf,a.png,"{SOURCE_13}",Male=+inf',
        f'typo,a.png,"{SOURCE_13}",Eyeglases=1',
        f'ok,a.png,"{SOURCE_13}",Young=0',
    ]) + "\n"
    rows, _ = _rows(tmp_path, text)
    by_line = {r.line: r for r in rows}
    assert not isinstance(by_line[2], RowFailure)
    assert "13 attributes" in by_line[3].error
    assert "not a number" in by_line[4].error and "not a number" in by_line[5].error
    assert "not a finite number" in by_line[6].error or "not a number" in by_line[6].error
    assert "did you mean 'Eyeglasses'" in by_line[7].error
    assert "duplicate id 'ok'" in by_line[8].error


def test_two_rows_writing_one_output(tmp_path):
    rows, _ = _rows(tmp_path, f'id,image,source,output\na,a.png,"{SOURCE_13}",x.png\nb,a.png,"{SOURCE_13}",X.PNG\n')
    assert not isinstance(rows[0], RowFailure)
    assert "also written by line 2" in rows[1].error


def test_header_only_run_is_a_usage_error(tmp_path, tiny_checkpoint):
    from click.testing import CliRunner

    from attgan_batch.cli import main

    path = _write(tmp_path / "m.csv", "image,edit\n")
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), "-c", str(tiny_checkpoint)])
    assert result.exit_code == 2 and "no rows" in result.output
