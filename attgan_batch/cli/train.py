"""``attgan-batch train``: the reference trainer's options, plus resume, fine-tune and torchrun.

Every reference option is available under its reference name (``--enc_dim``) and in dashed form
(``--enc-dim``); options are generated from :class:`AttGANSettings` so the two cannot drift. A
value given on the command line overrides ``--settings FILE`` (a setting.txt), which overrides the
reference defaults. With ``--resume`` the run's own ``OUT/setting.txt`` is the base.
"""
from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

import click

from ..model.config import AttGANSettings, parse_style_spec  # the options are generated from it (imports torch)
from ._common import fail, stderr_console

CHOICES = {
    "enc_norm": ("batchnorm", "instancenorm", "none"), "dec_norm": ("batchnorm", "instancenorm", "none"),
    "dis_norm": ("batchnorm", "instancenorm", "none"), "dis_fc_norm": ("batchnorm", "instancenorm", "none"),
    "enc_acti": ("relu", "lrelu", "tanh", "sigmoid", "none"), "dec_acti": ("relu", "lrelu", "tanh", "sigmoid", "none"),
    "dis_acti": ("relu", "lrelu", "tanh", "sigmoid", "none"), "dis_fc_acti": ("relu", "lrelu", "tanh", "sigmoid", "none"),
    "mode": ("wgan", "lsgan", "dcgan"), "b_distribution": ("none", "uniform", "truncated_normal"),
}
HELP = {
    "img_size": "Image size in pixels", "lambda_1": "Weight of the L1 reconstruction loss (G)",
    "lambda_2": "Weight of the attribute classification loss (G)", "lambda_3": "Weight of the classification loss (D)",
    "lambda_gp": "Weight of the gradient penalty", "mode": "GAN loss (wgan: WGAN-GP; lsgan/dcgan: DRAGAN penalty)",
    "n_d": "Critic updates per generator update", "batch_size": "Batch size per process",
    "epochs": "Epochs", "lr": "Adam learning rate (divided by --lr-decay-factor every --lr-decay-every epochs)",
    "b_distribution": "Target intensities during training", "thres_int": "Attribute intensity fed to G in training",
    "test_int": "Edited attribute intensity in sample grids", "n_samples": "Images in each sample grid",
    "save_interval": "Iterations between checkpoints", "sample_interval": "Iterations between sample grids",
    "num_workers": "DataLoader worker processes", "shortcut_layers": "Encoder-decoder skip connections",
    "inject_layers": "Decoder layers that receive the attribute vector again",
    "enc_dim": "Encoder base width (doubles per layer, capped at 1024)", "dec_dim": "Decoder base width",
    "dis_dim": "Critic base width", "dis_fc_dim": "Width of the critic's fully connected heads",
    "enc_layers": "Encoder layers", "dec_layers": "Decoder layers", "dis_layers": "Critic conv layers",
    "beta1": "Adam beta1", "beta2": "Adam beta2",
    "experiment_name": "Name recorded in setting.txt; the reference's test scripts look for the run in "
                       "output/<name>",
    "lambda_style": "Weight of the style (mutual information) loss, in G and D; only with --style",
    "lambda_style_l1": "Weight of L1(styled edit, neutral-style edit): keeps style changes local; only with --style",
}
DEFAULT_TEXT = {"experiment_name": "default: the --out folder's name; the reference's: a timestamp"}
SKIP = {"attrs", "data", "extra", "style"}
NOT_IN_REFERENCE = {"lambda_style", "lambda_style_l1"}  # the style extension
SETTING_FIELDS = [f for f in dataclasses.fields(AttGANSettings) if f.name not in SKIP]


def _settings_options(func):
    """One click option per reference setting; default None = 'not given' (the base value applies)."""
    defaults = AttGANSettings()
    for f in reversed(SETTING_FIELDS):
        default = getattr(defaults, f.name)
        kind = click.Choice(CHOICES[f.name]) if f.name in CHOICES else type(default)
        names = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
        which = "default" if f.name in NOT_IN_REFERENCE else "reference default"
        shown = DEFAULT_TEXT.get(f.name, f"{which}: {default}")
        text = f"{HELP.get(f.name, f.name.replace('_', ' ').capitalize())} [{shown}]"
        func = click.option(*names, f.name, type=kind, default=None, help=text)(func)
    return func


@click.command("train")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="CelebA-format folder: images + list_attr_celeba.txt (+ list_eval_partition.txt).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Run folder: setting.txt, checkpoint/weights.N.pth, metrics.jsonl, sample_training/.")
@click.option("--attrs", default=None, help="Attributes to learn, comma or space separated, in order "
              "[reference default: the 13 of the published models].")
@click.option("--style", "style_spec", default=None, metavar="ATTR:DIMS[,...]",
              help="Style controllers (the AttGAN paper's extension, e.g. Eyeglasses:2): continuous codes per "
                   "attribute, with a Q head on D and a mutual-information loss. Not in the reference format.")
@click.option("--settings", "settings_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None, help="Start from this setting.txt (JSON); options given here override it.")
@_settings_options
@click.option("--image-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Image folder, when not found inside --data.")
@click.option("--attr-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Attribute file, when not found inside --data.")
@click.option("--crop", type=click.Choice(["auto", "celeba", "square", "none"]), default="auto", show_default=True,
              help="auto: CelebA centre crop for aligned 178x218 CelebA images, square centre crop otherwise.")
@click.option("--augment/--no-augment", default=False, show_default=True,
              help="Random flip and small shift per image (reproducible: seeded per image and epoch).")
@click.option("--cache/--no-cache", default=False, show_default=True,
              help="Keep decoded images in memory (small data sets).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--amp", type=click.Choice(["auto", "none", "bf16", "fp16"]), default="auto", show_default=True,
              help="Autocast precision; auto = bf16 on CUDA GPUs that support it, fp32 otherwise. The "
                   "gradient penalty always runs in fp32.")
@click.option("--channels-last/--no-channels-last", default=None,
              help="NHWC memory format [default: on for CUDA, off for CPU].")
@click.option("--adam", type=click.Choice(["auto", "fused", "foreach", "for-loop"]), default="auto", show_default=True)
@click.option("--d-augment", default="", show_default=True,
              help="Randomly shift the images the critic sees (real and generated, D and G steps): "
                   "'translation'. Not in the reference; helps small data sets (docs/training.md).")
@click.option("--lr-decay-every", type=int, default=100, show_default=True, help="Epochs between lr divisions.")
@click.option("--lr-decay-factor", type=float, default=10.0, show_default=True)
@click.option("--ema", type=float, default=0.0, show_default=True, metavar="DECAY",
              help="Keep an exponential moving average of G's weights (e.g. 0.999; 0 = off), saved beside G "
                   "and published by export instead of the last G. Not in the reference.")
@click.option("--max-steps", type=int, default=None, help="Stop after this many iterations in total.")
@click.option("--keep-last", type=int, default=3, show_default=True, help="Checkpoints kept (0 = all).")
@click.option("--log-interval", type=int, default=10, show_default=True, help="Iterations per metrics.jsonl line.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch [default: torch's choice; under torchrun 1 per process]. Small models "
                   "on a busy machine often train faster with 1.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint, exactly.")
@click.option("--overwrite", is_flag=True,
              help="Start a new run in an --out that holds one: first delete its checkpoints, metrics.jsonl and "
                   "sample grids (without it, or --resume, such an --out is refused).")
@click.option("--finetune", type=click.Path(path_type=Path, exists=True), default=None,
              help="Initialise from a published checkpoint (G, and D when present); works with other --attrs.")
@click.pass_context
def train_command(ctx: click.Context, data, out, attrs, style_spec, settings_file, **options):
    """Train AttGAN with the reference objective (WGAN-GP + attribute classification + L1
    reconstruction, n_d critic steps per generator step).

    \b
    Examples:
      attgan-batch train --data data/celeba --out runs/celeba128
      attgan-batch train --data synth64 --out runs/demo --img-size 64 --enc-dim 16 --dec-dim 16
      attgan-batch train --out runs/demo --resume
      torchrun --nproc_per_node=4 $(which attgan-batch) train --data data/celeba --out runs/ddp

    An --out that already holds a run is refused unless --resume (continue it) or --overwrite
    (delete it, start anew) is given.

    Exit codes: 0 finished, 1 training diverged (NaN/inf loss), 2 bad options or data (also an --out
    that holds a run), 130 stopped by Ctrl-C/SIGTERM (after saving a checkpoint; continue with --resume).
    """
    from ..errors import AttGANBatchError
    from ..training import TrainConfig, TrainingDiverged, train

    given = {f.name: options.pop(f.name) for f in SETTING_FIELDS}
    given = {k: v for k, v in given.items() if v is not None}
    try:
        if options["resume"]:
            base = AttGANSettings.from_file(out / "setting.txt") if (out / "setting.txt").is_file() else None
            if base is None:
                fail(f"--resume: {out / 'setting.txt'} not found; is --out the folder of an earlier run?")
        elif settings_file:
            base = AttGANSettings.from_file(settings_file)
        else:
            base = AttGANSettings()
        settings = _apply(base, given, attrs, style_spec)
        if not options["resume"] and "experiment_name" not in given:
            settings.experiment_name = out.resolve().name  # not a --settings file's: that names another run
        if options["resume"]:
            data = data or _saved_path(base.extra.get("data_path"))
            for key in ("crop", "augment", "cache", "d_augment", "lr_decay_every", "lr_decay_factor", "ema"):
                if ctx.get_parameter_source(key) == click.core.ParameterSource.DEFAULT and key in base.extra:
                    options[key] = base.extra[key]
        config = TrainConfig(out=out, settings=settings, data=data, **options)
    except (ValueError, TypeError, AttGANBatchError) as exc:
        fail(str(exc))
    console = stderr_console()
    try:
        result = train(config, log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    except TrainingDiverged as exc:
        fail(str(exc), code=1)
    except (ValueError, AttGANBatchError) as exc:
        fail(str(exc))
    if result.stopped == "interrupted":
        sys.exit(130)


def _apply(base: Any, given: dict[str, Any], attrs: str | None, style_spec: str | None = None):
    settings = dataclasses.replace(base, extra=dict(base.extra), style=dict(base.style))
    for key, value in given.items():
        setattr(settings, key, value)
    if attrs:
        settings.attrs = [a for a in re.split(r"[\s,]+", attrs.strip()) if a]
    if style_spec is not None:
        settings.style = parse_style_spec(style_spec, settings.attrs)
    return settings


def _saved_path(value: Any) -> Path | None:
    return Path(value) if value else None
