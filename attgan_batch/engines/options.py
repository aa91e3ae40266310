"""What a run asks of its inference engine: one object that travels through engine selection."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class EngineOptions:
    """The ``run`` options that choose and shape the inference engine.

    Args:
        backend: ``auto`` (the fastest that is fresh and works here), ``tensorrt``, ``openvino``,
            ``onnxruntime`` or ``torch``.
        device: ``auto`` (CUDA when usable, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32`` (the default: bit-stable outputs), ``fp16`` or ``bf16``.
        batch_size: images per generator call (also the TensorRT profile's optimum).
        engine: an explicit ``.onnx`` or ``.plan`` file; refused when its sidecar does not match.
        engines_dir: where engine artefacts are built and cached; None = the per-user cache
            (``$XDG_CACHE_HOME/attgan-batch/engines``, :mod:`attgan_batch.engines.cache`).
        compile: run the torch backend through ``torch.compile``.
    """

    backend: str = "auto"
    device: str = "auto"
    precision: str = "fp32"
    batch_size: int = 16
    engine: Path | None = None
    engines_dir: Path | None = None
    compile: bool = False
