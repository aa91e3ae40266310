"""What a training run needs besides the model/objective options (those live in AttGANSettings).

``AttGANSettings`` holds every option of the reference trainer (architecture, lambdas, lr, n_d,
epochs, batch size ...) and is written to ``OUT/setting.txt`` unchanged in layout. ``TrainConfig``
adds what the reference fixed in code or did not have: where data and outputs live, device and
precision, seeding, resume/fine-tune, checkpoint retention and logging cadence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.images import CROPS
from ..model.config import AttGANSettings

AMP_MODES = ("auto", "none", "bf16", "fp16")
ADAM_IMPLS = ("auto", "fused", "foreach", "for-loop")

# Options that may change when resuming a run; every other setting must match setting.txt.
RESUMABLE_SETTINGS = ("epochs", "save_interval", "sample_interval", "n_samples", "num_workers")


@dataclass
class TrainConfig:
    out: Path
    settings: AttGANSettings = field(default_factory=AttGANSettings)
    data: Path | None = None             # CelebA-format folder (images + list_attr_celeba.txt)
    image_dir: Path | None = None        # overrides the dataset's image folder
    attr_file: Path | None = None        # overrides the dataset's attribute file
    crop: str = "auto"                   # 'auto': CelebA crop for 178x218 aligned images, else square
    augment: bool = False                # random flip + small shift (deterministic per sample and epoch)
    cache: bool = False                  # keep decoded images in memory (small sets, CPU training)
    seed: int = 0
    device: str = "auto"                 # 'auto', 'cpu', 'cuda', 'cuda:N'
    amp: str = "auto"                    # 'auto' = bf16 on CUDA when supported, else fp32
    channels_last: bool | None = None    # None = on for CUDA, off for CPU (see docs/training.md)
    adam: str = "auto"                   # Adam implementation
    d_augment: str = ""                  # critic-input augmentation ('translation'); '' = reference
    lr_decay_every: int = 100            # epochs; the reference divides lr by 10 every 100 epochs
    lr_decay_factor: float = 10.0
    ema: float = 0.0                     # decay of an exponential moving average of G's weights; 0 = none
    max_steps: int | None = None         # stop after this many iterations (D or G) in total
    keep_last: int = 3                   # checkpoints kept in OUT/checkpoint (0 = all)
    log_interval: int = 10               # iterations per JSONL metrics line
    progress: bool = True                # rich progress bar (rank 0 only)
    threads: int | None = None           # torch CPU threads (None: leave torch's default)
    resume: bool = False                 # continue from the newest checkpoint in OUT/checkpoint
    overwrite: bool = False              # start anew in an OUT that holds a run: delete its checkpoints first
    finetune: Path | None = None         # start G (and D when present) from a published checkpoint

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, not {self.amp!r}")
        if self.adam not in ADAM_IMPLS:
            raise ValueError(f"adam must be one of {ADAM_IMPLS}, not {self.adam!r}")
        if self.crop not in CROPS:
            raise ValueError(f"crop must be one of {CROPS}, not {self.crop!r}")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other: resume continues the run in --out, "
                             "overwrite deletes it and starts anew")
        if self.resume and self.finetune:
            raise ValueError("--resume and --finetune exclude each other: resume continues this run, "
                             "fine-tune starts a new one from other weights")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (0 = off, e.g. 0.999), not {self.ema}")
        for name in ("lr_decay_every", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        s = self.settings
        if s.n_d < 0 or s.batch_size < 1 or s.epochs < 1 or s.save_interval < 1 or s.sample_interval < 1:
            raise ValueError("n_d must be >= 0 and batch_size, epochs, save_interval, sample_interval >= 1")
