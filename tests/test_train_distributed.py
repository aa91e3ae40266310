"""torchrun with two CPU processes (gloo): gradients are all-reduced, so both ranks end identical.

Run as a script, this file is the worker that torchrun starts; as a test, it launches torchrun.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def state_hash(*modules: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for i, module in enumerate(modules):
        for name, value in sorted(module.state_dict().items()):
            digest.update(f"{i}.{name}".encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def worker(out: Path) -> None:
    from torch.utils.data import TensorDataset

    from attgan_batch.model import AttGANSettings
    from attgan_batch.training import TrainConfig, Trainer

    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 32, 32, generator=g) * 2 - 1
    a = (torch.rand(32, 3, generator=g) > 0.5).float()
    settings = AttGANSettings(attrs=["Bald", "Male", "Young"], img_size=32, enc_dim=8, dec_dim=8, dis_dim=8,
                              dis_fc_dim=16, enc_layers=3, dec_layers=3, dis_layers=3, batch_size=4, n_d=2,
                              save_interval=1000, sample_interval=1000, n_samples=4)
    trainer = Trainer(TrainConfig(out=out, settings=settings, max_steps=9, log_interval=1, progress=False, threads=1),
                      TensorDataset(x, a))
    # each rank starts from the same weights but sees a different half of the data
    first_batch = next(iter(trainer.loader))[0]
    (out / f"first_batch.{trainer.info.rank}").write_text(f"{first_batch.sum().item():.6f}")
    trainer.fit()
    (out / f"hash.{trainer.info.rank}").write_text(state_hash(trainer.G, trainer.D))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_torchrun_two_cpu_processes_end_with_identical_weights(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__, str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "first_batch.0").read_text() != (tmp_path / "first_batch.1").read_text()
    h0, h1 = (tmp_path / "hash.0").read_text(), (tmp_path / "hash.1").read_text()
    assert h0 == h1  # the ranks trained on different data; only synchronised gradients keep them equal

    from attgan_batch.model import load_checkpoint
    from attgan_batch.training.metrics import read_metrics

    loaded = load_checkpoint(tmp_path, with_discriminator=True)
    assert loaded.weights_path.name == "weights.9.pth"
    assert state_hash(loaded.generator, loaded.discriminator) == h0  # rank 0 saved what every rank holds
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(range(1, 10))


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
