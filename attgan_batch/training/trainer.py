"""The AttGAN training loop: reference objective and step order, with exact resume and DDP.

Step order (reference train.py): iteration ``it`` (0-based) is a critic step when
``(it + 1) % (n_d + 1) != 0`` and a generator step otherwise, so n_d D updates are followed by
one G update, each iteration on a fresh batch. lr is ``lr / 10 ** (epoch // 100)``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import Dataset

from ..atomic import atomic_open
from ..errors import AttGANBatchError, CheckpointError
from ..model import Discriminator, Generator
from ..model.checkpoint import read_weights
from ..model.config import AttGANSettings
from . import checkpoints, distributed, rng, run_folder
from .compat import reference_incompatibilities
from .config import RESUMABLE_SETTINGS, TrainConfig
from .d_augment import make_augment
from .ema import GeneratorEMA
from .data import build_datasets, fixed_samples, train_loader
from .finetune import DISCRIMINATOR_ATTRIBUTE_KEYS, generator_attribute_keys, read_source, transfer
from .metrics import MetricsLog, progress_bar
from .samples import save_grid
from .sampling import SeededSamples
from .steps import DStep, GStep, g_loss
from .style import sample_style
from .targets import B_DISTRIBUTIONS, Targets, make_targets


DEFAULT_EXPERIMENT_NAME = AttGANSettings().experiment_name  # a placeholder: replaced by the --out folder's name


class TrainingDiverged(AttGANBatchError):
    """A loss became NaN/inf; training stopped before the bad update, checkpoints untouched."""


@dataclass
class TrainResult:
    out: Path
    step: int
    epoch: int
    checkpoint: Path | None
    stopped: str                      # 'done', 'max_steps' or 'interrupted'
    last: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0          # process CPU time (all threads) spent in fit()


def resume_settings(out: str | Path) -> AttGANSettings:
    """The settings of an existing run (``OUT/setting.txt``), to build a resume config from."""
    path = Path(out) / "setting.txt"
    if not path.is_file():
        raise CheckpointError(f"cannot resume: {path} does not exist (was {out} written by attgan-batch train?)")
    return AttGANSettings.from_file(path)


def _check_settings(s: AttGANSettings) -> None:
    if not s.attrs or len(set(s.attrs)) != len(s.attrs):
        raise ValueError(f"attrs must be a non-empty list of distinct names, got {s.attrs}")
    for what, layers in (("enc_layers", s.enc_layers), ("dis_layers", s.dis_layers)):
        if s.img_size % 2**layers or s.img_size < 2**layers:
            raise ValueError(f"img_size {s.img_size} must be a multiple of 2**{what} = {2**layers}")
    unknown = [name for name in s.style if name not in s.attrs]
    if unknown or any(dims < 1 for dims in s.style.values()):
        raise ValueError(f"style {s.style} must give at least 1 code for attributes in attrs ({', '.join(s.attrs)})")
    if s.b_distribution not in B_DISTRIBUTIONS:
        raise ValueError(f"b_distribution must be one of {B_DISTRIBUTIONS}, not {s.b_distribution!r}")


def make_adam(params, lr: float, betas: tuple[float, float], impl: str, device: torch.device) -> torch.optim.Adam:
    """Adam with the fastest implementation measured for the device (benchmarks/train_speed.py)."""
    if impl == "auto":
        impl = "fused" if device.type in ("cuda", "cpu") else "foreach"
    kwargs: dict[str, Any] = {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}
    return torch.optim.Adam(params, lr=lr, betas=betas, **kwargs)


class Trainer:
    """Builds models, optimisers and data from a :class:`TrainConfig`; :meth:`fit` runs the loop."""

    def __init__(self, config: TrainConfig, train_set: Dataset | None = None, sample_set: Dataset | None = None,
                 log: Callable[[str], None] | None = None):
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.info = distributed.init(config.device)
        self._log = log if log is not None else print
        self.out = Path(config.out)
        self.ckpt_dir = self.out / "checkpoint"
        self.device = self.info.device
        resume_from = self._find_resume() if config.resume else None
        raw_state = read_weights(resume_from) if resume_from else None
        self.seed = int(raw_state["seed"]) if raw_state is not None else config.seed
        self.settings = s = self._settings(raw_state)
        _check_settings(s)
        if not config.resume:
            self._check_out_folder()
        for problem in reference_incompatibilities(s):
            self.say(f"note: the reference AttGAN-PyTorch cannot load this run's checkpoints: {problem}")

        rng.seed_all(self.seed)  # identical initial weights on every rank (DDP also broadcasts them)
        self.G = Generator.from_settings(s).to(self.device)
        self.D = Discriminator.from_settings(s).to(self.device)
        if config.finetune:
            self._finetune(config.finetune)
        self.channels_last = config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.ema = GeneratorEMA(self.G, config.ema) if config.ema else None  # after fine-tuning: averages from there
        self.amp_dtype = self._amp_dtype()
        betas = (s.beta1, s.beta2)
        self.optim_G = make_adam(self.G.parameters(), s.lr, betas, config.adam, self.device)
        self.optim_D = make_adam(self.D.parameters(), s.lr, betas, config.adam, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.augment = make_augment(config.d_augment)
        self.d_step: nn.Module = DStep(self.D, s.mode, s.lambda_gp, s.lambda_3, self.augment)
        self.g_step: nn.Module = GStep(self.G)
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.d_step = DDP(self.d_step, device_ids=ids)
            self.g_step = DDP(self.g_step, device_ids=ids)

        if train_set is None:
            train_set, built_samples = build_datasets(config, s)
            sample_set = sample_set if sample_set is not None else built_samples
        self.train_set = train_set
        self.sample_set = sample_set if sample_set is not None else train_set
        self.loader, self.sampler, self.seeded = train_loader(
            train_set, s.batch_size, self.seed, s.num_workers, self.info.rank, self.info.world_size,
            pin_memory=self.device.type == "cuda")
        self.it_per_epoch = self.sampler.num_samples // s.batch_size
        if self.it_per_epoch == 0:
            raise ValueError(f"the training set ({len(train_set)} images over {self.info.world_size} process(es)) "
                             f"is smaller than one batch of {s.batch_size}; lower --batch-size")

        self.step = 0
        self.lr = s.lr
        self.saved_step: int | None = None
        self.last_checkpoint: Path | None = None
        self._stop_local = False      # set by a signal on this rank
        self._stop_requested = False  # agreed by all ranks at the last iteration
        rng.seed_all(self.seed + self.info.rank)  # per-rank stream for b shuffles and penalties
        if raw_state is not None:
            self._load_state(raw_state, resume_from)
        if self.info.is_main:
            if config.overwrite:
                gone = run_folder.clear_run(self.out)
                if gone:
                    self.say(f"--overwrite: deleted {len(gone)} file(s) of the earlier run in {self.out}")
            self.out.mkdir(parents=True, exist_ok=True)
            self._write_settings()
        self.metrics = MetricsLog(self.out / "metrics.jsonl" if self.info.is_main else None, config.log_interval)
        if raw_state is not None:
            self.metrics.truncate_after(self.step)

    # ------------------------------------------------------------------ setup helpers

    def say(self, message: str) -> None:
        if self.info.is_main:
            self._log(message)

    def _find_resume(self) -> Path:
        path = checkpoints.latest_checkpoint(self.ckpt_dir)
        if path is None:
            raise CheckpointError(f"--resume: no weights.N.pth in {self.ckpt_dir}; start without --resume")
        return path

    def _check_out_folder(self) -> None:
        """A new run never lands beside an old one's checkpoints (loaders would pick the larger N)."""
        cfg = self.config
        if cfg.overwrite and cfg.finetune and Path(cfg.finetune).resolve().is_relative_to(self.out.resolve()):
            raise ValueError(f"--finetune {cfg.finetune} lies inside --out {self.out}, which --overwrite would "
                             "clear; copy the weights elsewhere or pick another --out")
        problem = None
        if self.info.is_main and not cfg.overwrite:  # rank 0 decides before it writes anything
            try:
                run_folder.refuse_existing(self.out)
            except run_folder.RunFolderInUse as exc:
                problem = exc
        if distributed.any_true([problem is not None], self.info)[0]:
            raise problem or run_folder.RunFolderInUse(f"{self.out} already holds a training run (seen by rank 0); "
                                                       "use --resume or --overwrite")

    def _settings(self, raw_state: dict | None) -> AttGANSettings:
        s = self.config.settings
        if raw_state is None:
            # a copy: never mutate the caller's settings
            s = dataclasses.replace(s, attrs=list(s.attrs), style=dict(s.style), extra=dict(s.extra))
            if s.experiment_name == DEFAULT_EXPERIMENT_NAME:
                s.experiment_name = self.out.resolve().name  # the reference's test scripts find output/<name>
            return s
        saved = resume_settings(self.out)
        if s.experiment_name == DEFAULT_EXPERIMENT_NAME:  # not chosen: the run keeps its recorded name
            s = dataclasses.replace(s, experiment_name=saved.experiment_name)
        names = [f.name for f in dataclasses.fields(AttGANSettings) if f.name != "extra"]
        fixed = [k for k in names if k not in RESUMABLE_SETTINGS and getattr(s, k) != getattr(saved, k)]
        if fixed:
            raise ValueError(
                "--resume: these options differ from the run's setting.txt and cannot change mid-run: "
                + ", ".join(f"{k} ({getattr(saved, k)!r} -> {getattr(s, k)!r})" for k in fixed)
                + f". Build the config from {self.out / 'setting.txt'} (attgan-batch train --resume does).")
        merged = AttGANSettings.from_dict(saved.to_dict())
        for key in RESUMABLE_SETTINGS:
            setattr(merged, key, getattr(s, key))
        return merged

    def _amp_dtype(self) -> torch.dtype | None:
        amp = self.config.amp
        if amp == "auto":
            cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            return torch.bfloat16 if cuda_bf16 else None
        if amp == "fp16" and self.device.type != "cuda":
            raise ValueError("--amp fp16 needs CUDA; use --amp bf16 or none on CPU")
        return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _finetune(self, path: Path) -> None:
        src = read_source(path)
        attrs = self.settings.attrs
        g_keys = generator_attribute_keys(self.settings.dec_layers, self.settings.inject_layers)
        g_keys += generator_attribute_keys(src.dec_layers, src.inject_layers)
        g_report = transfer(self.G, {k: v.to(self.device) for k, v in src.g_state.items()}, g_keys,
                            src.cond_names, self.settings.cond_names())
        lines = [f"fine-tuning from {src.path}"] + g_report.lines("G")
        if src.attrs is None:
            lines.append("G: the source has no setting.txt; its attribute channels are assumed to be in this run's order")
        if src.d_state is not None:
            d_report = transfer(self.D, {k: v.to(self.device) for k, v in src.d_state.items()},
                                DISCRIMINATOR_ATTRIBUTE_KEYS, src.attrs, attrs)
            lines += d_report.lines("D")
        else:
            lines.append("D: the source holds no discriminator (a published G-only file); D starts from scratch")
        for line in lines:
            self.say(line)

    def _write_settings(self) -> None:
        s = self.settings
        s.extra.update({
            "data_path": str(self.config.data) if self.config.data else s.extra.get("data_path"),
            "seed": self.seed, "crop": self.config.crop, "augment": self.config.augment, "cache": self.config.cache,
            "lr_decay_every": self.config.lr_decay_every, "lr_decay_factor": self.config.lr_decay_factor,
            "d_augment": self.config.d_augment, "trainer": "attgan-batch",
        })
        if self.config.ema:  # only when used: a run without it keeps the earlier setting.txt
            s.extra["ema"] = self.config.ema
        with atomic_open(self.out / "setting.txt") as fh:
            fh.write(s.to_json())

    # ------------------------------------------------------------------ state

    def lr_at(self, epoch: int) -> float:
        return self.settings.lr / self.config.lr_decay_factor ** (epoch // self.config.lr_decay_every)

    def _set_lr(self, lr: float) -> None:
        self.lr = lr
        for opt in (self.optim_G, self.optim_D):
            for group in opt.param_groups:
                group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint payload: the reference's four keys plus exact-resume state (collective)."""
        distributed.broadcast_buffers(self.G, self.info)
        rng_states = distributed.gather(rng.capture(), self.info)
        epoch = self.step // self.it_per_epoch
        return {
            "G": {k: v.contiguous() for k, v in self.G.state_dict().items()},
            "D": {k: v.contiguous() for k, v in self.D.state_dict().items()},
            "optim_G": self.optim_G.state_dict(), "optim_D": self.optim_D.state_dict(),
            "format": checkpoints.FORMAT, "step": self.step, "epoch": epoch, "seed": self.seed,
            "lr": self.lr, "schedule": {"lr_base": self.settings.lr, "decay_every": self.config.lr_decay_every,
                                        "decay_factor": self.config.lr_decay_factor},
            "sampler": {"epoch": epoch, "position": self.step % self.it_per_epoch, "seed": self.seed,
                        "world_size": self.info.world_size, "batch_size": self.settings.batch_size},
            "rng": rng_states, "scaler": self.scaler.state_dict() if self.scaler else None,
            "attrs": list(self.settings.attrs),
            **(self.ema.state() if self.ema is not None else {}),
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``OUT/checkpoint/weights.<step>.pth`` atomically (rank 0) and prune old ones."""
        self._check_weights()
        state = self.state_dict()
        path = checkpoints.weights_path(self.ckpt_dir, self.step)
        if self.info.is_main:
            checkpoints.atomic_save(state, path)
            checkpoints.prune(self.ckpt_dir, self.config.keep_last)
        distributed.barrier(self.info)
        self.saved_step, self.last_checkpoint = self.step, path
        return path

    def _check_weights(self) -> None:
        """Never save non-finite weights (finite losses can still come with NaN gradients)."""
        bad = [f"{what}.{name}" for what, net in (("G", self.G), ("D", self.D))
               for name, p in net.named_parameters() if not torch.isfinite(p).all()]
        if distributed.any_true([bool(bad)], self.info)[0]:
            last = f"{self.last_checkpoint} (iteration {self.saved_step})" if self.last_checkpoint else "none"
            raise TrainingDiverged(f"training diverged: non-finite weights ({', '.join(bad[:3]) or 'on another rank'}) "
                                   f"at iteration {self.step}; not saved. The last good checkpoint is {last}.")

    def _load_state(self, raw: dict[str, Any], path: Path) -> None:
        if "step" not in raw or "optim_G" not in raw:
            raise CheckpointError(f"{path} holds no training state (a published G-only file?); "
                                  "use --finetune to start a new run from it")
        self.G.load_state_dict(raw["G"])
        self.D.load_state_dict(raw["D"])
        self.optim_G.load_state_dict(raw["optim_G"])
        self.optim_D.load_state_dict(raw["optim_D"])
        if self.scaler is not None and raw.get("scaler"):
            self.scaler.load_state_dict(raw["scaler"])
        if self.ema is not None:
            if "G_ema" in raw:
                self.ema.load(raw)
            else:
                self.ema = GeneratorEMA(self.G, self.config.ema)
                self.say(f"--ema: {path} holds no average of G; it starts from the resumed G")
        self.step = int(raw["step"])
        self.saved_step, self.last_checkpoint = self.step, path
        saved = raw["sampler"]
        if saved["world_size"] != self.info.world_size or saved["batch_size"] != self.settings.batch_size:
            self.say(f"resume: world size/batch size changed ({saved['world_size']}x{saved['batch_size']} -> "
                     f"{self.info.world_size}x{self.settings.batch_size}); the data order restarts at the epoch's "
                     "equivalent position and random streams are reseeded, so the run is no longer bit-exact")
        states = raw["rng"]
        if len(states) == self.info.world_size:
            rng.restore(states[self.info.rank])
        self.say(f"resumed from {path} at iteration {self.step} (epoch {self.step // self.it_per_epoch})")

    # ------------------------------------------------------------------ one iteration

    def train_step(self, img_a: torch.Tensor, att_a: torch.Tensor) -> dict[str, float]:
        """One reference iteration on one batch: a D update, or every (n_d+1)-th a G update."""
        x = img_a.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        targets = make_targets(att_a.to(self.device, non_blocking=True), self.settings.thres_int,
                               self.settings.b_distribution)
        if (self.step + 1) % (self.settings.n_d + 1) != 0:
            return self._train_d(x, targets)
        return self._train_g(x, targets)

    def _style(self, t: Targets) -> dict[str, Any]:
        """Sampled style codes for this batch (style models only): keyword arguments of the steps."""
        if not self.settings.n_style:
            return {}
        theta, mask = sample_style(t.att_b, self.settings)
        return {"theta": theta, "style_mask": mask, "lambda_style": self.settings.lambda_style}

    def _train_d(self, x: torch.Tensor, t: Targets) -> dict[str, float]:
        style = self._style(t)
        with torch.no_grad(), self._autocast():
            fake = self.G(x, t.att_b_, style.get("theta"))  # train mode: G's BatchNorm statistics update, as in the reference
        with self._autocast():
            d_loss, parts = self.d_step(x, fake, t.att_a, **style)
        values = self._checked(parts, "D")
        self.optim_D.zero_grad(set_to_none=True)
        self._update(d_loss, self.optim_D)
        return values

    def _train_g(self, x: torch.Tensor, t: Targets) -> dict[str, float]:
        s = self.settings
        style = self._style(t)
        self.D.requires_grad_(False)
        try:
            with self._autocast():
                with_neutral = bool(style) and s.lambda_style_l1 > 0
                fake, rec, neutral = self.g_step(x, t.att_a_, t.att_b_, style.get("theta"), with_neutral)
                total, parts = g_loss(s.mode, self.D, x, fake, rec, t.att_b, s.lambda_1, s.lambda_2, self.augment,
                                      **style, neutral=neutral, lambda_style_l1=s.lambda_style_l1)
            values = self._checked(parts, "G")
            self.optim_G.zero_grad(set_to_none=True)
            self._update(total, self.optim_G)
            if self.ema is not None:
                self.ema.update(self.G)
        finally:
            self.D.requires_grad_(True)
        return values

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()

    def _checked(self, parts: dict[str, torch.Tensor], phase: str) -> dict[str, float]:
        """Loss values as floats; stops every rank before the update when any is NaN/inf."""
        values = dict(zip(parts, torch.stack([v.detach().float() for v in parts.values()]).tolist()))
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        diverged, stop = distributed.any_true([bool(bad), self._stop_local], self.info)
        self._stop_requested = stop
        if diverged:
            where = f"{phase} step at iteration {self.step + 1} (epoch {self.step // self.it_per_epoch})"
            what = ", ".join(f"{k}={values[k]}" for k in bad) or "a non-finite loss on another rank"
            last = (f"the last good checkpoint is {self.last_checkpoint} (iteration {self.saved_step}); resume from "
                    "it with a lower --lr, smaller lambdas or --amp none" if self.last_checkpoint else
                    "no checkpoint had been written yet")
            self.metrics.write({"event": "diverged", "step": self.step + 1, **{k: str(v) for k, v in values.items()}})
            raise TrainingDiverged(f"training diverged: {what} in the {where}; stopped before applying it. {last}.")
        return values

    # ------------------------------------------------------------------ the loop

    def sample(self) -> Path | None:
        if not self.info.is_main:
            return None
        # through SeededSamples: any augmentation in the sample set must not draw from the training RNGs
        images, att_a = fixed_samples(SeededSamples(self.sample_set, self.seed), self.settings.n_samples)
        path = self.out / "sample_training" / f"step_{self.step:07d}.png"
        g = self.ema.model if self.ema is not None else self.G  # what export publishes
        return save_grid(g, images.to(self.device), att_a.to(self.device), self.settings.attrs,
                         self.settings.thres_int, self.settings.test_int, path)

    def total_steps(self) -> int:
        total = self.settings.epochs * self.it_per_epoch
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def fit(self) -> TrainResult:
        s, cfg = self.settings, self.config
        total = self.total_steps()
        start_time, window_start, window_step = time.monotonic(), time.monotonic(), self.step
        start_cpu = time.process_time()  # CPU seconds of this process (all threads): the cost on shared machines
        last: dict[str, float] = {}
        self.say(f"training {total - self.step} iterations ({self.it_per_epoch}/epoch, batch {s.batch_size} x "
                 f"{self.info.world_size} process(es)) on {self.device}"
                 + (f" with {str(self.amp_dtype).replace('torch.', '')} autocast" if self.amp_dtype else "")
                 + f"; writing {self.out}")
        with self._stop_signals(), progress_bar(cfg.progress and self.info.is_main) as bar:
            task = bar.add_task("train", total=total, completed=self.step, epoch=self.step // self.it_per_epoch, losses="")
            while self.step < total and not self._stop_requested:
                epoch, position = divmod(self.step, self.it_per_epoch)
                self._set_lr(self.lr_at(epoch))
                self.sampler.set_position(epoch, position * s.batch_size)
                self.seeded.set_epoch(epoch)
                self.loader.generator.manual_seed(self.seed + epoch)
                for img_a, att_a in self.loader:
                    values = self.train_step(img_a, att_a)
                    self.step += 1
                    last.update(values)
                    self.metrics.add(values)
                    if self.step % cfg.log_interval == 0:
                        now = time.monotonic()
                        self.metrics.flush(step=self.step, epoch=epoch, lr=self.lr, time=round(now - start_time, 3),
                                           cpu_s=round(time.process_time() - start_cpu, 3),
                                           it_s=round((self.step - window_step) / max(now - window_start, 1e-9), 3))
                        window_start, window_step = now, self.step
                    if self.step % s.save_interval == 0:
                        self.save_checkpoint()
                    if self.step % s.sample_interval == 0:
                        self.sample()
                    bar.update(task, completed=self.step, epoch=epoch, losses=_brief(last))
                    if self.step >= total or self._stop_requested:
                        break
        if self.saved_step != self.step:
            self.save_checkpoint()
        self.sample()
        stopped = "interrupted" if self._stop_requested else (
            "done" if self.step >= s.epochs * self.it_per_epoch else "max_steps")
        result = TrainResult(self.out, self.step, self.step // self.it_per_epoch, self.last_checkpoint, stopped,
                             last, time.monotonic() - start_time, time.process_time() - start_cpu)
        self.say(f"{stopped} at iteration {self.step} after {result.seconds / 60:.1f} min "
                 f"({result.cpu_seconds / 60:.1f} CPU-min); checkpoint {self.last_checkpoint}")
        return result

    @contextlib.contextmanager
    def _stop_signals(self):
        """First Ctrl-C / SIGTERM: finish the current iteration, save, stop. Second: abort."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop_local:
                raise KeyboardInterrupt
            self._stop_local = True
            self.say("stop requested: saving a checkpoint after this iteration (press Ctrl-C again to abort)")

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def _brief(values: dict[str, float]) -> str:
    keys = [k for k in ("d_loss", "g_loss", "gr_loss") if k in values]
    return " ".join(f"{k} {values[k]:.3f}" for k in keys)


def train(config: TrainConfig, train_set: Dataset | None = None, sample_set: Dataset | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train AttGAN as configured; returns where it stopped. Joins/leaves the torchrun group itself."""
    trainer = Trainer(config, train_set, sample_set, log)
    try:
        return trainer.fit()
    finally:
        distributed.shutdown(trainer.info)
