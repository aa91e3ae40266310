"""Start a run from published weights, also when the attribute list changes.

Tensors whose name and shape match are copied. Tensors that carry one row/channel per attribute
(G's decoder inputs that receive the attribute tile, D's classifier output) are remapped by
attribute *name*: known attributes keep their learned channels, new attributes keep their fresh
initialisation, so fine-tuning to ``--attrs`` with one extra attribute keeps everything else.
Anything else that differs stays freshly initialised. The report lists what happened to each tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..model.checkpoint import find_weights, infer_generator_settings, read_weights, strip_module_prefix
from ..model.config import AttGANSettings


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    remapped: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self, what: str) -> list[str]:
        out = [f"{what}: loaded {len(self.loaded)} tensors unchanged"]
        if self.remapped:
            out.append(f"{what}: remapped by attribute name: {', '.join(self.remapped)}")
        if self.initialised:
            out.append(f"{what}: newly initialised (no matching source tensor): {', '.join(self.initialised)}")
        if self.ignored:
            out.append(f"{what}: not used from the source file: {', '.join(self.ignored)}")
        return out + [f"{what}: {n}" for n in self.notes]


def generator_attribute_keys(dec_layers: int, inject_layers: int) -> list[str]:
    """G tensors whose input channels end with one channel per attribute."""
    layers = [0] + [i + 1 for i in range(min(inject_layers, dec_layers - 1))]
    return [f"dec_layers.{j}.layers.0.weight" for j in layers]


DISCRIMINATOR_ATTRIBUTE_KEYS = ["fc_cls.1.layers.0.weight", "fc_cls.1.layers.0.bias"]


def _remap(src: torch.Tensor, init: torch.Tensor, src_names: list[str], dst_names: list[str]) -> torch.Tensor | None:
    """``init`` with src's non-attribute channels and same-name attribute channels copied (dim 0)."""
    keep = src.shape[0] - len(src_names)
    if keep != init.shape[0] - len(dst_names) or keep < 0 or src.shape[1:] != init.shape[1:]:
        return None
    out = init.clone()
    out[:keep] = src[:keep]
    for j, name in enumerate(dst_names):
        if name in src_names:
            out[keep + j] = src[keep + src_names.index(name)]
    return out


def transfer(module: nn.Module, source: dict[str, torch.Tensor], attribute_keys: list[str],
             src_names: list[str] | None, dst_names: list[str]) -> TransferReport:
    """Copy what fits from ``source`` into ``module`` (in place) and say what was done."""
    report = TransferReport()
    target = module.state_dict()
    names_known = src_names is not None
    src_names = src_names if src_names is not None else list(dst_names)
    for key, init in target.items():
        if key not in source:
            report.initialised.append(key)
            continue
        src = source[key]
        if key in attribute_keys and (src_names != dst_names or src.shape != init.shape):
            mapped = _remap(src, init, src_names, dst_names) if names_known else None
            if mapped is None:
                report.initialised.append(key)
                continue
            target[key] = mapped
            report.remapped.append(key)
        elif src.shape == init.shape:
            target[key] = src
            report.loaded.append(key)
        else:
            report.initialised.append(key)
    report.ignored = [k for k in source if k not in target]
    module.load_state_dict(target)
    if src_names != dst_names:
        kept = [n for n in dst_names if n in src_names]
        new = [n for n in dst_names if n not in src_names]
        report.notes.append(f"attributes kept from the source: {', '.join(kept) or 'none'}; "
                            f"new (learned from scratch): {', '.join(new) or 'none'}")
    return report


@dataclass
class FinetuneSource:
    path: Path
    g_state: dict[str, torch.Tensor]
    d_state: dict[str, torch.Tensor] | None
    attrs: list[str] | None          # None when no setting.txt says which attributes G was trained on
    cond_names: list[str] | None     # attrs, then the style code names of a style model (G's inputs)
    inject_layers: int
    dec_layers: int


def read_source(path: str | Path) -> FinetuneSource:
    """The G (and D when present) state dicts of a published or training checkpoint."""
    setting_path, weights = find_weights(path)
    raw = read_weights(weights)
    if "G" not in raw:
        raise CheckpointError(f"{weights} has no 'G' entry; --finetune needs an AttGAN checkpoint")
    g_state = strip_module_prefix(raw["G"])
    d_state = strip_module_prefix(raw["D"]) if isinstance(raw.get("D"), dict) else None
    shape = infer_generator_settings(g_state)
    settings = AttGANSettings.from_file(setting_path) if setting_path else None
    attrs, cond = (settings.attrs, settings.cond_names()) if settings else (None, None)
    if cond is not None and len(cond) != shape["n_attrs"]:
        attrs = cond = None  # setting.txt describes another model; fall back to shapes only
    return FinetuneSource(weights, g_state, d_state, attrs, cond, shape["inject_layers"], shape["dec_layers"])
