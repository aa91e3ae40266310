"""An exponential moving average (EMA) of the generator's weights (``--ema DECAY``).

Why: an adversarial generator's weights keep moving with the critic, so any one snapshot carries
the noise of its last few updates (checkerboard texture, colour drift). The average over the last
~``1 / (1 - decay)`` generator updates is a smoother, better model at no training cost; it is what
gets published (:func:`attgan_batch.training.export.export_generator` writes it into the G slot).
Training itself always uses and saves the raw G (the reference's ``'G'`` entry, which the critic
was trained against); the average travels beside it as ``'G_ema'`` so ``--resume`` is exact.

Parameters and floating buffers (BatchNorm running statistics) are averaged; integer buffers
(``num_batches_tracked``) are copied. The decay warms up as ``min(decay, (1 + n) / (10 + n))`` over
the first updates ``n``, so a young average is not dominated by the initial weights.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """A frozen copy of G whose weights follow G's by ``ema = d * ema + (1 - d) * G`` after each G update."""

    def __init__(self, generator: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        d = self.current_decay()
        for avg, new in zip(self.model.parameters(), generator.parameters()):
            avg.lerp_(new.detach(), 1.0 - d)
        for avg, new in zip(self.model.buffers(), generator.buffers()):
            if avg.is_floating_point():
                avg.lerp_(new, 1.0 - d)
            else:
                avg.copy_(new)
        self.updates += 1

    def state(self) -> dict:
        """What a checkpoint stores: the averaged weights and where the warm-up stands."""
        return {"G_ema": {k: v.contiguous() for k, v in self.model.state_dict().items()},
                "ema": {"decay": self.decay, "updates": self.updates}}

    def load(self, raw: dict) -> None:
        self.model.load_state_dict(raw["G_ema"])
        self.updates = int(raw.get("ema", {}).get("updates", 0))
