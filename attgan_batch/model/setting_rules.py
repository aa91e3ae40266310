"""What each ``setting.txt`` key may hold: setting.txt is user input and is checked like it.

A value of the wrong type or out of range raises :class:`SettingsError` naming the key and the
allowed values, before any layer is built: an ``img_size`` of 100000 would otherwise try to
allocate hundreds of GB, a NaN ``thres_int`` would give flat grey images reported as ok, and an
unknown activation would surface as a traceback. Keys the reference does not have are kept
unchecked (``AttGANSettings.extra``); keys missing from old files take the reference's defaults.

Image size: the generator halves the image ``enc_layers`` times (4x4 convs, stride 2, padding 1,
so a side becomes ``side // 2``) and the decoder doubles it ``dec_layers`` times. The reference
trainer's reconstruction loss compares that output with the input, so every model it can train
has ``dec_layers == enc_layers`` and ``img_size`` a multiple of ``2**enc_layers`` (128 with 5
layers, 64 with 4); for any other size the encoder skips no longer line up with the decoder.
"""
from __future__ import annotations

import math
from typing import Any, Callable

NORMS = ("batchnorm", "instancenorm", "none")
ACTIVATIONS = ("relu", "lrelu", "tanh", "sigmoid", "none")
MODES = ("wgan", "lsgan", "dcgan")
B_DISTRIBUTIONS = ("none", "uniform", "truncated_normal")
MAX_DIM = 1024  # the reference caps every conv width at 64 * 16
MAX_IMG_SIZE = 4096  # published models are 128-384 px; far above that is a typo, not a model
MAX_LAYERS = 12  # 2**12 = MAX_IMG_SIZE: one more layer would halve every allowed size to nothing
_UNSUPPORTED = {"switchnorm": "the reference's switchable normalisation is not supported"}
_EDIT_SYNTAX = ";=,"  # characters that separate edits and values in a manifest


class SettingsError(ValueError):
    """A setting.txt value of the wrong type or out of range; ``key`` names it."""

    def __init__(self, key: str, value: Any, allowed: str, where: str = ""):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{where + ': ' if where else ''}{key!r} is {_show(value)}; allowed: {allowed}")

    def located(self, where: str) -> "SettingsError":
        """The same error, its message starting with ``where`` (the file it came from)."""
        return SettingsError(self.key, self.value, self.allowed, where)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- value kinds

def _integer(lo: int | None, hi: int | None = None, allowed: str = "") -> Callable[[str, Any], int]:
    allowed = allowed or (f"an integer >= {lo}" if hi is None else f"an integer between {lo} and {hi}")

    def check(key: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SettingsError(key, value, allowed)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SettingsError(key, value, allowed)
        return value
    return check


def _number(lo: float, *, open_lo: bool = False, hi: float | None = None) -> Callable[[str, Any], float]:
    bound = f"> {lo:g}" if open_lo else f">= {lo:g}"
    allowed = f"a finite number {bound}" + (f" and < {hi:g}" if hi is not None else "")

    def check(key: str, value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise SettingsError(key, value, allowed)
        if value < lo or (open_lo and value == lo) or (hi is not None and value >= hi):
            raise SettingsError(key, value, allowed)
        return float(value)
    return check


def _beta(key: str, value: Any) -> float:
    allowed = f"a number with 0 <= {key} < 1"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0 <= value < 1):
        raise SettingsError(key, value, allowed)
    return float(value)


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value in options:
            return value
        why = _UNSUPPORTED.get(value) if isinstance(value, str) else None
        raise SettingsError(key, value, (f"{why}; " if why else "") + f"one of {', '.join(options)}")
    return check


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError(key, value, "text (a JSON string)")
    return value


def _attrs(key: str, value: Any) -> list[str]:
    allowed = "a list of attribute names: at least one, each a distinct non-empty string without ';', '=' or ','"
    if not isinstance(value, list):
        raise SettingsError(key, value, allowed)
    if not value:
        raise SettingsError(key, value, allowed)
    seen: dict[str, str] = {}
    for name in value:
        if not isinstance(name, str) or not name.strip() or name != name.strip() or any(c in name for c in _EDIT_SYNTAX):
            raise SettingsError(key, value, f"{allowed} (not {_show(name)})")
        if name.lower() in seen:
            raise SettingsError(key, value, f"{allowed}; {name!r} appears twice")
        seen[name.lower()] = name
    return list(value)


RULES: dict[str, Callable[[str, Any], Any]] = {
    "attrs": _attrs,
    "data": _text,
    "img_size": _integer(None, allowed="an integer (in pixels)"),  # the range: check_image_size
    "shortcut_layers": _integer(0),  # the generator clamps both to dec_layers - 1, as the reference
    "inject_layers": _integer(0),
    "enc_dim": _integer(1, MAX_DIM),
    "dec_dim": _integer(1, MAX_DIM),
    "dis_dim": _integer(1, MAX_DIM),
    "dis_fc_dim": _integer(1, 65536),
    "enc_layers": _integer(1, MAX_LAYERS),
    "dec_layers": _integer(1, MAX_LAYERS),
    "dis_layers": _integer(1, MAX_LAYERS),
    "enc_norm": _choice(NORMS), "dec_norm": _choice(NORMS), "dis_norm": _choice(NORMS), "dis_fc_norm": _choice(NORMS),
    "enc_acti": _choice(ACTIVATIONS), "dec_acti": _choice(ACTIVATIONS), "dis_acti": _choice(ACTIVATIONS),
    "dis_fc_acti": _choice(ACTIVATIONS),
    "lambda_1": _number(0), "lambda_2": _number(0), "lambda_3": _number(0), "lambda_gp": _number(0),
    "mode": _choice(MODES),
    "epochs": _integer(1), "batch_size": _integer(1), "num_workers": _integer(0),
    "lr": _number(0, open_lo=True), "beta1": _beta, "beta2": _beta,
    "n_d": _integer(0),
    "b_distribution": _choice(B_DISTRIBUTIONS),
    "thres_int": _number(0, open_lo=True),
    "test_int": _number(0, open_lo=True),
    "n_samples": _integer(1), "save_interval": _integer(1), "sample_interval": _integer(1),
    "experiment_name": _text,
    "lambda_style": _number(0), "lambda_style_l1": _number(0),
}


def check_values(raw: dict[str, Any]) -> dict[str, Any]:
    """The known keys of ``raw``, checked and normalised (integral floats become ints)."""
    values = {key: RULES[key](key, value) for key, value in raw.items() if key in RULES}
    attrs = values.get("attrs")
    if "style" in raw:
        values["style"] = _style(raw["style"], attrs)
    if "n_attrs" in raw and attrs is not None:  # derived key the reference writes: must agree with attrs
        n = raw["n_attrs"]
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != len(attrs):
            raise SettingsError("n_attrs", n, f"{len(attrs)} (attrs lists {len(attrs)} names)")
    if "img_size" in values:
        check_image_size(values["img_size"], values.get("enc_layers", 5))
    return values


def _style(value: Any, attrs: list[str] | None) -> dict[str, int]:
    allowed = "a JSON object {attribute: number of style codes >= 1}, e.g. {\"Eyeglasses\": 2}"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SettingsError("style", value, allowed)
    out: dict[str, int] = {}
    for name, dims in value.items():
        if attrs is not None and name not in attrs:
            raise SettingsError("style", value, f"{allowed}; {name!r} is not one of attrs ({', '.join(attrs)})")
        if isinstance(dims, float) and dims.is_integer():
            dims = int(dims)
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise SettingsError("style", value, f"{allowed}; the count for {name!r} must be an integer >= 1")
        out[name] = dims
    return out


def check_image_size(img_size: int, enc_layers: int) -> None:
    """``img_size`` must survive halving ``enc_layers`` times exactly (see the module docstring)."""
    step = 2 ** enc_layers
    if img_size % step or not step <= img_size <= MAX_IMG_SIZE:
        raise SettingsError(
            "img_size", img_size,
            f"a multiple of {step} between {step} and {MAX_IMG_SIZE} (the generator halves the image "
            f"enc_layers = {enc_layers} times, so 2**{enc_layers} = {step} must divide it)")


def check_layers(enc_layers: int, dec_layers: int) -> None:
    """The decoder must undo the encoder's halvings to give an image of the input's size."""
    if enc_layers != dec_layers:
        raise SettingsError("dec_layers", dec_layers,
                            f"{enc_layers}, the same as enc_layers (the decoder doubles the size once per layer, "
                            "so only equal counts give an output the size of the input)")
