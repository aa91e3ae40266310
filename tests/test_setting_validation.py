"""setting.txt is user input: every key is checked for type and range when a checkpoint loads.

A bad value is a CheckpointError (exit 2 from the CLI) naming the file, the key and what is allowed,
never a traceback, a 240 GB allocation, grey images reported "ok" or every row failing.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from attgan_batch.errors import CheckpointError
from attgan_batch.model import AttGANSettings, load_checkpoint
from attgan_batch.model import config as model_config
from conftest import write_checkpoint


def _with_setting(folder: Path, **changes) -> Path:
    path = folder / "setting.txt"
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if value is _DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value
    path.write_text(json.dumps(raw, indent=4))  # NaN / Infinity are written as JSON's NaN / Infinity
    return folder


_DELETE = object()

# (key, bad value, fragment of the allowed values the message must state); the tiny model has 3+3 layers
BAD_VALUES = [
    ("img_size", 0, "multiple of 8"),
    ("img_size", 7, "multiple of 8"),
    ("img_size", -1, "multiple of 8"),
    ("img_size", "abc", "integer"),
    ("img_size", 127.5, "integer"),
    ("img_size", 100000, "4096"),
    ("img_size", True, "integer"),
    ("img_size", None, "integer"),
    ("thres_int", math.nan, "finite"),
    ("thres_int", "0.5", "number"),
    ("thres_int", 0, "> 0"),
    ("thres_int", -0.5, "> 0"),
    ("test_int", -1.0, "> 0"),
    ("test_int", math.inf, "finite"),
    ("attrs", ["Male", "Young", "Male"], "twice"),
    ("attrs", [1, 2, 3], "names"),
    ("attrs", 13, "list"),
    ("attrs", [], "at least one"),
    ("attrs", ["Male", " "], "names"),
    ("attrs", "Male,Young", "list"),
    ("style", "x", "object"),
    ("style", {"Male": 0}, ">= 1"),
    ("style", {"Nope": 1}, "attrs"),
    ("style", {"Male": "a"}, "integer"),
    ("dec_acti", "rm -rf", "relu"),
    ("enc_acti", 3, "lrelu"),
    ("enc_norm", "switchnorm", "not supported"),
    ("dis_norm", "layernorm", "instancenorm"),
    ("dec_norm", None, "batchnorm"),
    ("enc_layers", 0, "between 1 and 12"),
    ("dec_layers", -1, "between 1 and 12"),
    ("enc_layers", 2.5, "integer"),
    ("dis_layers", 40, "between 1 and 12"),
    ("enc_dim", 0, "between 1 and 1024"),
    ("dec_dim", "64", "integer"),
    ("dis_fc_dim", -16, "between 1"),
    ("shortcut_layers", -1, ">= 0"),
    ("inject_layers", "1", "integer"),
    ("mode", "foo", "wgan"),
    ("b_distribution", "gauss", "truncated_normal"),
    ("lambda_1", -1.0, ">= 0"),
    ("lr", 0, "> 0"),
    ("beta1", 1.5, "0 <= beta1 < 1"),
    ("batch_size", 0, ">= 1"),
    ("n_d", -1, ">= 0"),
    ("experiment_name", 5, "text"),
    ("n_attrs", 12, "13 names"),
]


@pytest.mark.parametrize("key,value,allowed", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_setting_is_a_checkpoint_error_naming_file_key_and_allowed(tmp_path, key, value, allowed):
    folder = _with_setting(write_checkpoint(tmp_path / "ck"), **{key: value})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder)
    message = str(info.value)
    assert str(folder / "setting.txt") in message
    assert repr(key) in message or f" {key} " in message
    assert allowed in message, message


@pytest.mark.parametrize("size", [8, 48, 64, 256])
def test_img_sizes_the_generator_can_halve_load(tmp_path, size):
    loaded = load_checkpoint(_with_setting(write_checkpoint(tmp_path / "ck"), img_size=size))
    assert loaded.settings.img_size == size


def test_integral_floats_are_read_as_integers(tmp_path):
    loaded = load_checkpoint(_with_setting(write_checkpoint(tmp_path / "ck"), img_size=32.0, enc_dim=8.0))
    assert loaded.settings.img_size == 32 and isinstance(loaded.settings.img_size, int)


def test_old_files_missing_keys_still_load(tmp_path):
    folder = _with_setting(write_checkpoint(tmp_path / "ck"), lambda_1=_DELETE, mode=_DELETE, style=_DELETE,
                           test_int=_DELETE, n_attrs=_DELETE)
    assert load_checkpoint(folder).settings.test_int == 1.0


def test_unknown_keys_are_kept_not_checked(tmp_path):
    folder = _with_setting(write_checkpoint(tmp_path / "ck"), gpu=False, multi_gpu="x", my_note=[1, 2])
    assert load_checkpoint(folder).settings.extra["my_note"] == [1, 2]


def test_img_size_from_the_weights_layer_count(tmp_path):
    """setting.txt says 3 encoder layers and img_size 12 (a multiple of 4, not of 8): the weights win on
    the layer count, and the size must then be halvable 3 times."""
    folder = _with_setting(write_checkpoint(tmp_path / "ck"), img_size=12, enc_layers=2, dec_layers=2)
    with pytest.raises(CheckpointError, match=r"img_size.*multiple of 8"):
        load_checkpoint(folder)


def test_no_setting_txt_checks_the_default_size_against_the_weights(tmp_path):
    import torch

    from attgan_batch.model import Generator

    g = Generator(enc_dim=1, dec_dim=1, enc_layers=8, dec_layers=8)  # halves 8 times: needs a multiple of 256
    torch.save({"G": g.state_dict()}, tmp_path / "weights.1.pth")
    with pytest.raises(CheckpointError, match=r"img_size.*multiple of 256"):
        load_checkpoint(tmp_path / "weights.1.pth")


def test_reference_and_demo_settings_are_valid(reference_dir):
    from attgan_batch.defaults import DEMO_DIR

    for folder in (reference_dir, DEMO_DIR):
        settings = AttGANSettings.from_file(folder / "setting.txt")
        settings.check_architecture()


def test_not_json_and_not_an_object(tmp_path):
    folder = write_checkpoint(tmp_path / "ck")
    (folder / "setting.txt").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="JSON object"):
        load_checkpoint(folder)
    (folder / "setting.txt").write_bytes(b"\xff\xfe{")
    with pytest.raises(CheckpointError, match="UTF-8"):
        load_checkpoint(folder)


def test_settings_error_is_a_value_error_with_the_key():
    with pytest.raises(getattr(model_config, "SettingsError", ValueError)) as info:
        AttGANSettings.from_dict({"thres_int": "high"})
    assert isinstance(info.value, ValueError) and info.value.key == "thres_int"


def test_cli_exit_2_names_the_key(tmp_path):
    from click.testing import CliRunner

    from attgan_batch.cli import main
    from conftest import SOURCE_13, write_image

    folder = _with_setting(write_checkpoint(tmp_path / "ck"), dec_acti="rm -rf")
    write_image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text(f'image,source\na.png,"{SOURCE_13}"\n')
    result = CliRunner().invoke(main, ["run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o"),
                                       "-c", str(folder), "--backend", "torch", "-q"])
    assert result.exit_code == 2, result.output
    assert "dec_acti" in result.output and "Traceback" not in result.output
