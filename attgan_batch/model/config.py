"""The reference's ``setting.txt`` as a typed config, separate from the model code.

``setting.txt`` is JSON (indent 4) of every training option of the reference AttGAN-PyTorch port.
Older published files lack some keys: :meth:`AttGANSettings.from_dict` fills the reference's
defaults and keeps unknown keys in ``extra`` so that writing the file back loses nothing. Every
known key is checked for type and range (``setting_rules``): a bad value is a SettingsError.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..regular_file import open_regular
from .setting_rules import MAX_DIM, SettingsError, check_image_size, check_layers, check_values

DEFAULT_ATTRS = [
    "Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows", "Eyeglasses",
    "Male", "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin", "Young",
]

__all__ = ["AttGANSettings", "DEFAULT_ATTRS", "MAX_DIM", "SettingsError", "parse_style_spec"]


@dataclass
class AttGANSettings:
    """Every option of the reference trainer, with the reference's defaults."""

    attrs: list[str] = field(default_factory=lambda: list(DEFAULT_ATTRS))
    data: str = "CelebA"
    img_size: int = 128
    shortcut_layers: int = 1
    inject_layers: int = 0
    enc_dim: int = 64
    dec_dim: int = 64
    dis_dim: int = 64
    dis_fc_dim: int = 1024
    enc_layers: int = 5
    dec_layers: int = 5
    dis_layers: int = 5
    enc_norm: str = "batchnorm"
    dec_norm: str = "batchnorm"
    dis_norm: str = "instancenorm"
    dis_fc_norm: str = "none"
    enc_acti: str = "lrelu"
    dec_acti: str = "relu"
    dis_acti: str = "lrelu"
    dis_fc_acti: str = "relu"
    lambda_1: float = 100.0
    lambda_2: float = 10.0
    lambda_3: float = 1.0
    lambda_gp: float = 10.0
    mode: str = "wgan"
    epochs: int = 200
    batch_size: int = 32
    num_workers: int = 0
    lr: float = 0.0002
    beta1: float = 0.5
    beta2: float = 0.999
    n_d: int = 5
    b_distribution: str = "none"
    thres_int: float = 0.5
    test_int: float = 1.0
    n_samples: int = 16
    save_interval: int = 1000
    sample_interval: int = 1000
    experiment_name: str = "attgan"
    # Style controllers (the AttGAN paper's extension; not in the reference port): attribute -> number
    # of continuous codes. Written to setting.txt only when used, so plain models keep its layout.
    style: dict[str, int] = field(default_factory=dict)
    lambda_style: float = 1.0
    lambda_style_l1: float = 0.0  # L1 between the styled and the neutral-style edit: keeps style changes local
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_attrs(self) -> int:
        return len(self.attrs)

    @property
    def n_style(self) -> int:
        return sum(self.style.values())

    @property
    def n_cond(self) -> int:
        """Width of the vector the decoder is conditioned on: attributes, then style codes."""
        return self.n_attrs + self.n_style

    def style_slices(self) -> dict[str, slice]:
        """Where each styled attribute's codes sit in the style vector."""
        out, start = {}, 0
        for name, dims in self.style.items():
            out[name] = slice(start, start + dims)
            start += dims
        return out

    def cond_names(self) -> list[str]:
        """One name per decoder conditioning channel (fine-tuning remaps channels by these)."""
        return list(self.attrs) + [f"{name}#style{i}" for name, dims in self.style.items() for i in range(dims)]

    def check_architecture(self) -> None:
        """SettingsError unless the image size and layer counts fit together (see setting_rules)."""
        check_image_size(self.img_size, self.enc_layers)
        check_layers(self.enc_layers, self.dec_layers)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "AttGANSettings":
        """Settings from a parsed setting.txt; SettingsError names the first bad key."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = check_values(raw)
        extra = {k: v for k, v in raw.items() if k not in known}
        settings = cls(**{k: v for k, v in values.items() if k in known})
        settings.extra = extra
        return settings

    @classmethod
    def from_file(cls, path: str | Path) -> "AttGANSettings":
        """Read and check ``path``; every error (ValueError) names the file."""
        path = Path(path)
        try:
            with open_regular(path) as fh:
                data = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc}") from exc
        try:
            raw = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                             "expected the reference's setting.txt (JSON)") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); expected the reference's setting.txt") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path} must hold a JSON object of training options, not a {type(raw).__name__}")
        try:
            return cls.from_dict(raw)
        except SettingsError as exc:
            raise exc.located(str(path)) from None

    def to_dict(self) -> dict[str, Any]:
        """The reference's layout: every option plus the derived keys it also writes."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}
        if not self.style:
            del out["style"], out["lambda_style"], out["lambda_style_l1"]  # the reference's layout exactly
        out.update(self.extra)
        out["n_attrs"] = self.n_attrs
        out["betas"] = [self.beta1, self.beta2]
        out.setdefault("lr_base", self.lr)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=4)


def parse_style_spec(text: str, attrs: list[str]) -> dict[str, int]:
    """``'Eyeglasses:2,Male:1'`` -> ``{'Eyeglasses': 2, 'Male': 1}``, checked against ``attrs``."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, dims = part.partition(":")
        name = name.strip()
        if name not in attrs:
            raise ValueError(f"style attribute {name!r} is not one of the model's attributes ({', '.join(attrs)})")
        try:
            n = int(dims or 1)
        except ValueError:
            raise ValueError(f"style {part!r}: the number of codes after ':' must be an integer, e.g. {name}:2") from None
        if n < 1 or name in out:
            raise ValueError(f"style {part!r}: give each attribute once with at least 1 code")
        out[name] = n
    return out
