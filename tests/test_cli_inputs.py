"""Photos without a manifest, sources by name, ``info``: the everyday path of a new user, through
click's CliRunner on real files and the bundled demo model."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import torch
from click.testing import CliRunner
from conftest import write_image
from PIL import Image

from attgan_batch.cli import main
from attgan_batch.model.config import DEFAULT_ATTRS


def _photos(root: Path) -> Path:
    folder = root / "photos"
    write_image(folder / "a.png", size=(48, 48), seed=1)
    write_image(folder / "trip" / "b.jpg", size=(60, 50), seed=2, fmt="JPEG")
    write_image(folder / "trip" / "c.webp", size=(40, 40), seed=3, fmt="WEBP")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _report(out: Path) -> dict[str, dict]:
    with open(out / "report.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_a_folder_of_photos_is_edited_with_one_command_and_mirrored_under_out(tmp_path):
    photos, out = _photos(tmp_path), tmp_path / "edited"
    args = ["run", str(photos), "--edit", "Blond_Hair=1", "--source", "Young;Black_Hair", "--out", str(out),
            "-c", "demo", "--backend", "torch"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "trained on 64 px synthetic faces" in result.output  # said once: these are not its faces
    report = _report(out)
    assert sorted(report) == ["a.png", "trip/b.jpg", "trip/c.webp"]
    assert all(r["status"] == "ok" and r["edited"] == "Blond_Hair" for r in report.values())
    assert report["a.png"]["source"] == "0,0,1,0,0,0,0,0,0,0,0,0,1"  # the names, as a vector in model order
    for name in ("a.png", "trip/b.jpg", "trip/c.png"):  # webp is written as png
        assert Image.open(out / name).size == (64, 64)
    again = CliRunner().invoke(main, args)  # a rerun resumes like a manifest run
    assert again.exit_code == 0 and json.loads((out / "report.json").read_text())["counts"]["resumed"] == 3


def test_single_images_and_globs_work_and_a_photo_is_never_read_as_a_manifest(tmp_path):
    photos, out = _photos(tmp_path), tmp_path / "out"
    runner = CliRunner()
    one = runner.invoke(main, ["run", str(photos / "a.png"), "-e", "Eyeglasses=flip", "--source", "Male",
                               "--out", str(out / "one"), "-c", "demo", "--backend", "torch", "-q"])
    assert one.exit_code == 0, one.output
    assert (out / "one" / "a.png").is_file()
    glob = runner.invoke(main, ["run", str(photos / "trip" / "*.jpg"), "-e", "flip-each", "--source", "Male",
                                "--out", str(out / "glob"), "-c", "demo", "--backend", "torch", "-q"])
    assert glob.exit_code == 0, glob.output
    assert sorted(_report(out / "glob")) == ["b.jpg"]
    assert Image.open(out / "glob" / "b.jpg").size[0] == 64 * 15  # input, reconstruction, 13 flips


def test_edit_options_with_a_manifest_are_a_usage_error(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,image\n")
    result = CliRunner().invoke(main, ["run", str(manifest), "--edit", "Male=1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "a manifest has its own" in result.output


def test_missing_photos_say_what_was_expected(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nothing-here"), "--edit", "Male=1",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "folder of photos" in result.output


def test_sources_by_name_in_a_manifest(tmp_path):
    write_image(tmp_path / "a.png", size=(48, 48))
    manifest = tmp_path / "m.csv"
    manifest.write_text('id,image,source,edit\nnamed,a.png,"Male, Young",Bald=1\npairs,a.png,Male=1;Young=-1,Bald=1\n'
                        "typo,a.png,Mael,Bald=1\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(manifest), "--out", str(out), "-c", "demo", "--backend", "torch",
                                       "-q"])
    assert result.exit_code == 1
    report = _report(out)
    male, young = DEFAULT_ATTRS.index("Male"), DEFAULT_ATTRS.index("Young")
    assert [int(v) for v in report["named"]["source"].split(",")][male] == 1
    assert [int(v) for v in report["named"]["source"].split(",")][young] == 1
    assert [int(v) for v in report["pairs"]["source"].split(",")][young] == 0
    assert report["typo"]["status"] == "failed" and "did you mean 'Male'" in report["typo"]["error"]


def test_info_lists_the_attributes_in_vector_order_and_what_run_would_do():
    runner = CliRunner()
    text = runner.invoke(main, ["info", "-c", "demo"])
    assert text.exit_code == 0, text.output
    assert "0:Bald, 1:Bangs" in text.output and "G-only" in text.output
    assert "reconstruction search" in text.output  # what run does for a missing source here, not "none"
    data = json.loads(runner.invoke(main, ["info", "--json"]).output)
    assert [a["name"] for a in data["attributes"]] == DEFAULT_ATTRS
    assert data["img_size"] == 64 and data["discriminator"] is False and len(data["sha256"]) == 64
    if importlib.util.find_spec("openvino") is not None and not torch.cuda.is_available():
        assert data["auto_backend"].startswith("openvino on cpu, over the generator's graph built in memory")
    assert data["auto_backend"]


def test_eval_without_a_judge_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["eval", "-c", "demo", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "train-classifier" in result.output


def test_source_from_recon_edits_g_only_photos_and_check_agrees(tmp_path):
    """The demo model is G-only: by default (and with recon) missing sources are inferred by
    reconstruction; --source-from discriminator refuses to guess."""
    demo = Path(__file__).resolve().parents[1] / "manifests" / "demo"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"id,image,edit\na,{demo / '000001.png'},Blond_Hair=1\nb,{demo / '000002.png'},Male=flip\n")
    runner = CliRunner()
    strict = runner.invoke(main, ["check", str(manifest), "-c", "demo", "--source-from", "discriminator"])
    assert strict.exit_code == 1 and "--source-from recon" in strict.output
    assert runner.invoke(main, ["check", str(manifest), "-c", "demo", "--source-from", "recon"]).exit_code == 0
    default = runner.invoke(main, ["check", str(manifest), "-c", "demo"])
    assert default.exit_code == 0 and "inferred by" in default.output
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", str(manifest), "--out", str(out), "-c", "demo", "--backend", "torch",
                                  "--source-from", "recon", "-q"])
    assert result.exit_code == 0, result.output
    report = _report(out)
    for row in report.values():
        assert row["status"] == "ok" and row["source_predicted"].count("=") == 13
        assert len(row["source"].split(",")) == 13
    assert json.loads((out / "report.json").read_text())["checkpoint"]["source_from"] == "recon"
    auto = runner.invoke(main, ["run", str(manifest), "--out", str(tmp_path / "auto"), "-c", "demo", "--backend",
                                "torch", "-q"])
    assert auto.exit_code == 0 and json.loads((tmp_path / "auto" / "report.json").read_text())[
        "checkpoint"]["source_from"] == "recon"


def test_messages_name_the_options_of_the_command_that_printed_them(tmp_path, tiny_checkpoint):
    runner = CliRunner()
    built = runner.invoke(main, ["build-engine", "-c", str(tiny_checkpoint), "--out", str(tmp_path / "e")])
    assert built.exit_code == 0, built.output
    assert "--compute-capability" in built.output and "--backend" not in built.output  # build-engine has no --backend
    (tmp_path / "data").mkdir()
    train = runner.invoke(main, ["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")])
    assert train.exit_code == 2 and "--attr-file" in train.output


def test_run_reads_an_excel_semicolon_csv_with_bom_and_crlf(tmp_path):
    demo = Path(__file__).resolve().parents[1] / "manifests" / "demo" / "000001.png"
    text = f'id;image;source;edit\r\nr1; {demo}; "Male;Young"; Blond Hair=yes\r\n'
    (tmp_path / "m.csv").write_bytes(text.encode("utf-8-sig"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(out), "-c", "demo",
                                       "--backend", "torch", "-q"])
    assert result.exit_code == 0, result.output
    row = _report(out)["r1"]
    assert row["status"] == "ok" and row["edited"] == "Blond_Hair" and row["line"] == "2"


def test_the_demo_model_on_a_manifest_of_other_photos_warns_once(tmp_path):
    for i in range(2):
        write_image(tmp_path / f"p{i}.png", size=(120, 90), seed=i)
    (tmp_path / "m.csv").write_text("id,image,source,edit\na,p0.png,Male,Young=0\nb,p1.png,Male,Young=0\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"), "--backend",
                                       "torch", "-q"])
    assert result.exit_code == 0, result.output
    warnings = json.loads((tmp_path / "o" / "report.json").read_text())["warnings"]
    assert sum("64 px synthetic faces" in w for w in warnings) == 1 and "p0.png is 120x90" in warnings[0]
