"""Publish a trained run the way the reference publishes models: ``setting.txt`` + ``{'G'}`` only.

The result is small (no critic, no optimiser state) and loads anywhere a published AttGAN
checkpoint does. Machine-specific entries (the training data path) are left out of setting.txt,
and ``experiment_name`` becomes the destination folder's name: the reference's test scripts build
their paths from it. A run trained with ``--ema`` publishes the averaged generator (``'G_ema'``) in
the ``'G'`` slot, so the file keeps the published layout.
"""
from __future__ import annotations

from pathlib import Path

from ..model.checkpoint import find_weights, read_weights, strip_module_prefix
from ..model.config import AttGANSettings
from .checkpoints import atomic_save

LOCAL_KEYS = ("data_path", "attr_path", "image_list_path")


def export_generator(run: str | Path, dest: str | Path, notes: dict | None = None, ema: bool = True) -> Path:
    """Write ``dest/setting.txt`` and ``dest/checkpoint/weights.N.pth`` = {'G'} from a run's checkpoint.

    ``ema``: publish the weight average when the checkpoint has one (``--ema``), else the last G."""
    setting_path, weights = find_weights(run)
    if setting_path is None:
        raise FileNotFoundError(f"{run} has no setting.txt beside its checkpoint; cannot publish it")
    settings = AttGANSettings.from_file(setting_path)
    for key in LOCAL_KEYS:
        settings.extra.pop(key, None)
    settings.extra.update(notes or {})
    raw = read_weights(weights)
    dest = Path(dest)
    settings.experiment_name = dest.resolve().name
    out = dest / "checkpoint" / weights.name
    g_state = raw["G_ema"] if ema and "G_ema" in raw else raw["G"]
    atomic_save({"G": {k: v.contiguous().clone() for k, v in strip_module_prefix(g_state).items()}}, out)
    (dest / "setting.txt").write_text(settings.to_json(), encoding="utf-8")
    return out
