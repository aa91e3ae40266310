"""A plain run imports only what it uses, and preprocessing without torchvision is byte-identical.

`preprocess` resizes with PIL directly; the reference pipeline resizes with torchvision's
``TF.resize(BILINEAR)``. Both must give the same bytes on real images (the shared fixture's inputs,
the repository's demo faces and figures), cropped and resized to every size a model uses.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attgan_batch.data.images import crop_box, load_rgb, preprocess

REPO = Path(__file__).resolve().parents[1]
SIZES = (64, 128, 256, 384)


def real_images(reference_dir: Path) -> list[Path]:
    return (sorted((REPO / "manifests" / "demo").glob("*.png")) + sorted((REPO / "docs" / "images").glob("*.png"))
            + sorted((reference_dir / "inputs").glob("*.png")))


def torchvision_preprocess(img: Image.Image, img_size: int, crop: str) -> torch.Tensor:
    """The reference's transforms: centre crop, TF.resize(BILINEAR), ToTensor, Normalize(0.5, 0.5)."""
    TF = pytest.importorskip("torchvision.transforms.functional")
    box = crop_box(img.size, crop)
    if box is not None:
        img = img.crop(box)
    img = TF.resize(img, [img_size, img_size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.normalize(TF.to_tensor(img), [0.5] * 3, [0.5] * 3)


def test_pil_resize_is_byte_identical_to_torchvisions_on_real_images(reference_dir):
    TF = pytest.importorskip("torchvision.transforms.functional")
    images = real_images(reference_dir)
    assert len(images) >= 12, "the demo faces ship with the repository"
    compared = 0
    for path in images:
        img = load_rgb(path)
        for crop in ("auto", "none"):
            for size in SIZES:
                box = crop_box(img.size, crop)
                source = img.crop(box) if box is not None else img
                if source.size == (size, size):
                    continue
                ours = source.resize((size, size), Image.Resampling.BILINEAR)
                theirs = TF.resize(source, [size, size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
                assert ours.tobytes() == theirs.tobytes(), (path.name, crop, size)
                assert torch.equal(preprocess(img, size, crop), torchvision_preprocess(img, size, crop)), \
                    (path.name, crop, size)
                compared += 1
    assert compared >= 50


def test_pil_resize_matches_torchvision_on_odd_sizes_and_aspect_ratios():
    TF = pytest.importorskip("torchvision.transforms.functional")
    rng = np.random.default_rng(0)
    for width, height in ((178, 218), (37, 501), (1000, 999), (15, 15)):
        img = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        for size in (32, 128, 333):
            ours = img.resize((size, size), Image.Resampling.BILINEAR)
            theirs = TF.resize(img, [size, size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
            assert ours.tobytes() == theirs.tobytes(), (width, height, size)


LEAN_RUN = textwrap.dedent("""
    import json, sys
    from attgan_batch.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    heavy = ("torchvision", "cv2", "ray", "onnx", "onnxscript", "onnxruntime", "openvino", "tensorrt")
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    print(json.dumps({"exit": code, "loaded": loaded}))
""")


def lean_run(checkpoint: Path, tmp_path: Path, *options: str) -> list[str]:
    """Run `attgan-batch run` on two images in a fresh interpreter; the heavy packages it imported."""
    from conftest import write_image

    images = [write_image(tmp_path / f"img{i}.png", size=(48, 40), seed=i) for i in range(2)]
    args = ["run", *map(str, images), "--edit", "Male=1", "--source", "Bangs,Male", "--out", str(tmp_path / "out"),
            "-c", str(checkpoint), "--engines-dir", str(tmp_path / "engines"), "-q", *options]
    done = subprocess.run([sys.executable, "-c", LEAN_RUN, *args], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit"] == 0, done.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 2
    return result["loaded"]


def test_a_plain_torch_run_does_not_import_torchvision_cv2_or_engines(tiny_checkpoint, tmp_path):
    loaded = lean_run(tiny_checkpoint, tmp_path, "--backend", "torch")
    assert loaded == [], f"a plain --backend torch run imported {loaded}"


def test_a_first_auto_run_imports_openvino_and_nothing_else_heavy(tiny_checkpoint, tmp_path):
    """The default CPU engine is built in memory: no ONNX package, no torchvision or OpenCV."""
    pytest.importorskip("openvino")
    loaded = lean_run(tiny_checkpoint, tmp_path, "--backend", "auto", "--device", "cpu")
    assert loaded == ["openvino"], loaded


def test_a_run_that_exports_its_engine_needs_neither_torchvision_cv2_nor_the_onnx_package(tiny_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    loaded = lean_run(tiny_checkpoint, tmp_path, "--backend", "onnxruntime")
    assert list((tmp_path / "engines").glob("*/generator-fp32.onnx")), "the engine was exported in this process"
    assert loaded == ["onnxruntime"], loaded
