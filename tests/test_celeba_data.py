"""CelebA-format datasets: attribute-file parsing, columns by name, splits, preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from attgan_batch.data.celeba import (
    CELEBA_BOUNDS, CelebAFormatDataset, DatasetError, read_attr_file, split_indices, write_attr_file,
)
from attgan_batch.data.synth import generate_dataset

FILE_NAMES = ["Male", "5_o_Clock_Shadow", "Young", "Bald", "Eyeglasses"]  # not in model order


def _celeba_like(root, n=10, names=FILE_NAMES, partition=True, size=(178, 218)):
    """An aligned-CelebA-shaped folder: img_align_celeba/*.png, a messy attribute file, a partition."""
    rng = np.random.default_rng(0)
    (root / "img_align_celeba").mkdir(parents=True)
    labels = rng.integers(0, 2, (n, len(names)))
    rows = []
    for i in range(n):
        name = f"{i + 1:06d}.png"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img_align_celeba" / name)
        rows.append(f"{name}   " + "  ".join("1" if v else "-1" for v in labels[i]))
    # CRLF, trailing spaces, double spaces and a trailing blank line, as real copies have
    (root / "list_attr_celeba.txt").write_bytes(
        (f"{n}\r\n" + " ".join(names) + " \r\n" + "\r\n".join(rows) + "\r\n\r\n").encode())
    if partition:
        codes = [0] * (n - 4) + [1, 1, 2, 2]
        (root / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.png {c}\n" for i, c in enumerate(codes)))
    return labels


def test_columns_are_found_by_name_and_labels_are_0_1(tmp_path):
    labels = _celeba_like(tmp_path)
    ds = CelebAFormatDataset(tmp_path, ["Bald", "Eyeglasses", "Male", "Young"], "train", 64)
    assert len(ds) == 6
    x, y = ds[2]
    assert y.dtype == torch.float32 and set(y.tolist()) <= {0.0, 1.0}
    cols = [FILE_NAMES.index(n) for n in ["Bald", "Eyeglasses", "Male", "Young"]]
    assert y.tolist() == labels[2, cols].tolist()
    assert torch.equal(ds.labels, torch.tensor(labels[:6][:, cols], dtype=torch.float32))


def test_celeba_preprocessing_matches_the_reference_pipeline(tmp_path):
    _celeba_like(tmp_path, n=6)
    ds = CelebAFormatDataset(tmp_path, ["Male"], "all", 64, crop="celeba")
    reference = transforms.Compose([
        transforms.CenterCrop(170), transforms.Resize(64), transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    for i in (0, 5):
        x, _ = ds[i]
        expected = reference(Image.open(ds.path(i)).convert("RGB"))
        assert x.shape == (3, 64, 64) and x.min() >= -1 and x.max() <= 1
        assert torch.allclose(x, expected, atol=1e-6)


def test_crop_none_resizes_only(tmp_path):
    _celeba_like(tmp_path, n=5, size=(96, 96), partition=False)
    x, _ = CelebAFormatDataset(tmp_path, ["Male"], "all", 32, crop="none")[0]
    expected = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                   transforms.Normalize((0.5,) * 3, (0.5,) * 3)])(
        Image.open(tmp_path / "img_align_celeba" / "000001.png").convert("RGB"))
    assert torch.allclose(x, expected, atol=1e-6)


def test_splits_from_partition_file_and_by_index(tmp_path):
    _celeba_like(tmp_path / "with", n=10)
    assert [len(CelebAFormatDataset(tmp_path / "with", ["Male"], s, 16)) for s in ("train", "val", "test")] == [6, 2, 2]
    assert CelebAFormatDataset(tmp_path / "with", ["Male"], "test", 16).files == ["000009.png", "000010.png"]
    _celeba_like(tmp_path / "without", n=20, partition=False)
    sizes = [len(CelebAFormatDataset(tmp_path / "without", ["Male"], s, 16)) for s in ("train", "val", "test", "all")]
    assert sizes == [18, 1, 1, 20]
    # full-size CelebA without a partition file: the reference's index split
    attr = tmp_path / "list_attr_celeba.txt"
    assert split_indices(202599, "train", attr) == range(0, CELEBA_BOUNDS[0])
    assert split_indices(202599, "valid", attr) == range(182000, 182637)
    assert split_indices(202599, "test", attr) == range(182637, 202599)


def test_attribute_file_variants_parse(tmp_path):
    expected = [[1, 0], [0, 1]]
    variants = {
        "plain": "2\nA B\nx.jpg 1 -1\ny.jpg -1 1\n",
        "no_count": "A B\nx.jpg 1 -1\ny.jpg -1 1\n",
        "zero_one": "2\nA B\nx.jpg 1 0\ny.jpg 0 1\n",
        "kaggle_csv": "image_id,A,B\nx.jpg,1,-1\ny.jpg,-1,1\n",
        "bom_tabs": "\ufeff2\n A\tB \n\nx.jpg\t 1\t-1\ny.jpg -1    1\n",
    }
    for name, text in variants.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text, encoding="utf-8")
        table = read_attr_file(path)
        assert table.names == ["A", "B"], name
        assert table.files == ["x.jpg", "y.jpg"], name
        assert table.labels.tolist() == expected, name


def test_write_then_read_round_trips(tmp_path):
    rows = [("a.png", [1, 0, 1]), ("b.png", [0, 0, 0])]
    write_attr_file(tmp_path / "attr.txt", ["X", "Y", "Z"], rows)
    table = read_attr_file(tmp_path / "attr.txt")
    assert table.files == ["a.png", "b.png"] and table.labels.tolist() == [[1, 0, 1], [0, 0, 0]]
    assert (tmp_path / "attr.txt").read_text().splitlines()[2].split() == ["a.png", "1", "-1", "1"]


def test_bad_attribute_files_say_what_is_wrong(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("2\nA B\nx.jpg 1 -1\ny.jpg 1\n")
    with pytest.raises(DatasetError, match="line 4"):
        read_attr_file(short)
    odd = tmp_path / "odd.txt"
    odd.write_text("1\nA B\nx.jpg 1 7\n")
    with pytest.raises(DatasetError, match="-1/1 or 0/1"):
        read_attr_file(odd)
    counted = tmp_path / "counted.txt"
    counted.write_text("5\nA B\nx.jpg 1 -1\n")
    with pytest.warns(UserWarning, match="count line"):
        read_attr_file(counted)
    _celeba_like(tmp_path / "ds", n=5)
    with pytest.raises(DatasetError, match="Eyeglasses"):  # a near miss is suggested
        CelebAFormatDataset(tmp_path / "ds", ["Eyeglases"], "all", 16)
    with pytest.raises(DatasetError, match="no attribute file"):
        CelebAFormatDataset(tmp_path, ["A"], "all", 16)


def test_augmentation_and_cache(tmp_path):
    _celeba_like(tmp_path, n=6, size=(64, 64), partition=False)
    plain = CelebAFormatDataset(tmp_path, ["Male"], "all", 32, crop="none")
    cached = CelebAFormatDataset(tmp_path, ["Male"], "all", 32, crop="none", cache=True)
    for i in range(3):  # twice: the second read comes from the cache
        assert torch.equal(plain[i][0], cached[i][0]) and torch.equal(plain[i][0], cached[i][0])
    aug = CelebAFormatDataset(tmp_path, ["Male"], "all", 32, crop="none", augment=True)
    torch.manual_seed(0)
    outs = [aug[0] for _ in range(8)]
    assert all(x.shape == (3, 32, 32) and torch.equal(y, plain[0][1]) for x, y in outs)
    assert any(not torch.equal(x, plain[0][0]) for x, _ in outs)
    # flip + shift only move pixels: the value set stays that of the image
    assert all(x.min() >= plain[0][0].min() and x.max() <= plain[0][0].max() for x, _ in outs)


def test_reads_a_synthetic_set(tmp_path):
    root = generate_dataset(tmp_path / "s", 10, 32, seed=3)
    ds = CelebAFormatDataset(root, ["Young", "Bald"], "all", 32, crop="none")
    table = read_attr_file(root / "list_attr_celeba.txt")
    assert ds.image_dir == root / "images" and len(ds) == 10
    assert ds.labels.numpy().astype(int).tolist() == table.columns(["Young", "Bald"]).tolist()
    x, _ = ds[0]
    raw = torch.from_numpy(np.array(Image.open(root / "images" / "000001.png"))).permute(2, 0, 1).float()
    assert torch.allclose(x, raw / 127.5 - 1, atol=1e-6)  # same size: no resampling at all


def test_preprocess_gives_torchvisions_floats_bit_for_bit_for_every_pixel_level():
    import numpy as np

    from attgan_batch.data.images import preprocess

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    img = Image.fromarray(np.stack([levels, levels.T, 255 - levels], axis=-1))  # every level in every channel
    expected = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])(img)
    got = preprocess(img, 16, crop="none")
    assert got.dtype == torch.float32 and got.is_contiguous() and torch.equal(got, expected)


def test_to_uint8_rounds_exactly_like_the_torch_formula_at_every_level_boundary():
    import numpy as np

    from attgan_batch.data.images import to_uint8

    def torch_formula(x):  # torchvision save_image's rounding, as the reference writes its PNGs
        y = x.float().add(1).div(2).clamp(0, 1)
        return y.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

    edges = (torch.arange(256).float() + 0.5) / 255 * 2 - 1  # where one 8-bit level turns into the next
    x = torch.stack([torch.nextafter(edges, torch.tensor(-2.0)), edges,
                     torch.nextafter(edges, torch.tensor(2.0))]).reshape(3, 16, 16)
    assert np.array_equal(to_uint8(x), torch_formula(x))
    noise = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # out of range too
    assert np.array_equal(to_uint8(noise), torch_formula(noise))
