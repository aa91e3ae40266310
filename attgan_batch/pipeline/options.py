"""The options of one ``run``, grouped as the command line groups them.

Importing this module is cheap (no torch, no OpenCV): the CLI builds these before it knows
whether the run needs the heavy parts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..engines.options import EngineOptions

if TYPE_CHECKING:
    from ..align.options import AlignOptions
    from ..shards import Shard

DEFAULT_MAX_PIXELS = 64_000_000  # ~8000 x 8000; larger files are refused as likely decompression bombs


@dataclass
class EditOptions:
    """How rows become generator inputs.

    Args:
        conflicts: ``resolve`` (apply the attribute-conflict rules, record each change),
            ``error`` (fail rows that break a rule) or ``ignore``.
        rules: ``reference`` or ``tensorflow`` (drops the Mustache/No_Beard rule).
        crop: ``auto``, ``celeba``, ``square`` or ``none`` (see data.images.crop_box).
        classifier: a classifier file (``train-classifier``) predicting missing sources
            instead of the checkpoint's discriminator.
        source_from: where missing sources come from: ``auto`` (the classifier, else the
            checkpoint's discriminator, else, for G-only weights, ``recon``), ``recon`` (the
            attributes whose reconstruction is closest to the image, with G alone:
            :mod:`attgan_batch.recon_source`) or ``discriminator`` (never guess: rows without a
            source fail when there is no classifier or discriminator).
    """

    conflicts: str = "resolve"
    rules: str = "reference"
    crop: str = "auto"
    classifier: Path | None = None
    source_from: str = "auto"


@dataclass
class OutputOptions:
    """What each row writes.

    Args:
        fmt: ``png`` or ``jpg``, for rows whose output name has no extension.
        grid: also write ``<output stem>.grid.png``: input, reconstruction, the edit(s).
        style_sweep: style models: add a line per style code of this attribute to the grid.
        compose: ``replace`` (the output is the generator's image), ``residual`` (the input
            plus what the edit changes: :mod:`attgan_batch.residual`), or ``auto`` (residual under
            ``--align``, else replace).
    """

    fmt: str = "png"
    grid: bool = False
    style_sweep: str | None = None
    compose: str = "auto"

    def residual(self, aligned: bool) -> bool:
        """Whether outputs are composed as residuals (``auto``: for aligned photos)."""
        from ..residual import uses_residual

        return uses_residual(self.compose, aligned)

    @property
    def writes_grid(self) -> bool:
        return self.grid or bool(self.style_sweep)


@dataclass
class PhotoOptions:
    """How input files are decoded.

    Args:
        align: detect, align and paste back faces of real photos (``--align``), or None.
        max_pixels: files above this many pixels are refused before decoding.
        base_dir: where relative image paths start (``--base-dir``); None: the manifest's folder.
        decode_memory: bytes of decode memory all decode threads share (``--decode-memory``);
            None: 2 GiB (data.decode_budget).
    """

    align: "AlignOptions | None" = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    base_dir: Path | None = None
    decode_memory: int | None = None


@dataclass
class ScaleOptions:
    """Where the rows run.

    Args:
        shard: run only shard K of N (own lock, journal and ``report.K-of-N.*``).
        executor: ``local`` (this process) or ``ray`` (a Ray cluster).
        ray_address: the Ray cluster to join (``auto``, ``HOST:PORT``); None starts a local Ray.
        num_gpus_per_worker: GPUs per Ray engine actor (0 = CPU).
    """

    shard: "Shard | None" = None
    executor: str = "local"
    ray_address: str | None = None
    num_gpus_per_worker: float = 0.0


@dataclass
class RunOptions:
    """Everything ``run_manifest`` needs besides the manifest.

    Args:
        out_dir: the output folder (images, report.csv / .json / .html, the journal).
        checkpoint: an experiment folder, its ``checkpoint/`` folder or a ``.pth`` file;
            None = the bundled demo model.
        engine: which inference engine runs the generator (:class:`EngineOptions`).
        edit: conflict rules, crop, source classifier (:class:`EditOptions`).
        output: output format, grids (:class:`OutputOptions`).
        photo: decoding and ``--align`` (:class:`PhotoOptions`).
        scale: shards and executors (:class:`ScaleOptions`).
        workers: threads decoding images while the generator runs (Ray: engine actors).
        max_failures: stop once more than this many rows failed (None: never).
        force: redo rows an earlier run into ``out_dir`` already finished.
        log: where engine-selection notes go (None: stderr).
    """

    out_dir: Path
    checkpoint: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    edit: EditOptions = field(default_factory=EditOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    photo: PhotoOptions = field(default_factory=PhotoOptions)
    scale: ScaleOptions = field(default_factory=ScaleOptions)
    workers: int = 2
    max_failures: int | None = None
    force: bool = False
    log: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
