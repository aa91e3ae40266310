"""Training iterations/s: this project's Trainer vs a reference-style AttGAN loop, in one process.

Both train the same model on the same in-memory batch with the reference's step order (n_d critic
iterations, then one generator iteration). The reference-style loop below is written plainly after
AttGAN-PyTorch's attgan.py/train.py: eager, separate critic passes for real and fake, the fake
built with autograd on and then detached, default Adam. Blocks of whole D/G cycles alternate
between the two so that machine load hits both alike; the median block time is reported.

    python benchmarks/train_speed.py                       # 64 px, widths 32, batch 32
    python benchmarks/train_speed.py --img-size 128 --dim 64 --batch 16 --blocks 3

Not a CI gate: CPU timings on shared machines are noisy.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from attgan_batch.model import AttGANSettings, Discriminator, Generator
from attgan_batch.training import TrainConfig, Trainer


# ----------------------------------------------------------------------------- the reference-style loop

class ReferenceLoop:
    def __init__(self, s: AttGANSettings, device: torch.device):
        self.s = s
        self.G = Generator.from_settings(s).to(device).train()
        self.D = Discriminator.from_settings(s).to(device).train()
        self.optim_G = torch.optim.Adam(self.G.parameters(), lr=s.lr, betas=(s.beta1, s.beta2))
        self.optim_D = torch.optim.Adam(self.D.parameters(), lr=s.lr, betas=(s.beta1, s.beta2))
        self.it = 0

    def gradient_penalty(self, real, fake):
        alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device)
        x = (real + alpha * (fake - real)).requires_grad_(True)
        pred = self.D(x)[0]
        grad = torch.autograd.grad(pred, x, torch.ones_like(pred), create_graph=True, retain_graph=True,
                                   only_inputs=True)[0]
        return ((grad.view(grad.size(0), -1).norm(2, dim=1) - 1.0) ** 2).mean()

    def train_d(self, img_a, att_a, att_a_, att_b, att_b_):
        for p in self.D.parameters():
            p.requires_grad = True
        img_fake = self.G(img_a, att_b_).detach()
        d_real, dc_real = self.D(img_a)
        d_fake, dc_fake = self.D(img_fake)
        df_loss = -(d_real.mean() - d_fake.mean())
        df_gp = self.gradient_penalty(img_a, img_fake)
        dc_loss = F.binary_cross_entropy_with_logits(dc_real, att_a)
        d_loss = df_loss + 10 * df_gp + self.s.lambda_3 * dc_loss
        self.optim_D.zero_grad()
        d_loss.backward()
        self.optim_D.step()
        return {"d_loss": d_loss.item(), "df_loss": df_loss.item(), "df_gp": df_gp.item(), "dc_loss": dc_loss.item()}

    def train_g(self, img_a, att_a, att_a_, att_b, att_b_):
        for p in self.D.parameters():
            p.requires_grad = False
        zs_a = self.G.encode(img_a)
        img_fake = self.G.decode(zs_a, att_b_)
        img_recon = self.G.decode(zs_a, att_a_)
        d_fake, dc_fake = self.D(img_fake)
        gf_loss = -d_fake.mean()
        gc_loss = F.binary_cross_entropy_with_logits(dc_fake, att_b)
        gr_loss = F.l1_loss(img_recon, img_a)
        g_loss = gf_loss + self.s.lambda_2 * gc_loss + self.s.lambda_1 * gr_loss
        self.optim_G.zero_grad()
        g_loss.backward()
        self.optim_G.step()
        return {"g_loss": g_loss.item(), "gf_loss": gf_loss.item(), "gc_loss": gc_loss.item(), "gr_loss": gr_loss.item()}

    def iteration(self, img_a, att_a):
        att_b = att_a[torch.randperm(len(att_a))].contiguous()
        att_a_ = (att_a * 2 - 1) * self.s.thres_int
        att_b_ = (att_b * 2 - 1) * self.s.thres_int
        if (self.it + 1) % (self.s.n_d + 1) != 0:
            out = self.train_d(img_a, att_a, att_a_, att_b, att_b_)
        else:
            out = self.train_g(img_a, att_a, att_a_, att_b, att_b_)
        self.it += 1
        return out


# ----------------------------------------------------------------------------- timing

def time_block(step, img, att, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step(img, att)
    return (time.perf_counter() - start) / iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--dim", type=int, default=32, help="enc/dec/dis base width")
    ap.add_argument("--fc-dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n-d", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=2, help="D/G cycles (n_d+1 iterations) per timed block")
    ap.add_argument("--blocks", type=int, default=5, help="timed blocks per variant (alternating)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--variants", default="default,channels_last,foreach",
                    help="trainer variants: default (CPU defaults), channels_last, foreach (Adam)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    s = AttGANSettings(img_size=args.img_size, enc_dim=args.dim, dec_dim=args.dim, dis_dim=args.dim,
                       dis_fc_dim=args.fc_dim, enc_layers=args.layers, dec_layers=args.layers,
                       dis_layers=args.layers, batch_size=args.batch, n_d=args.n_d)
    torch.manual_seed(0)
    img = torch.rand(args.batch, 3, args.img_size, args.img_size) * 2 - 1
    att = (torch.rand(args.batch, s.n_attrs) > 0.5).float()
    iters = args.cycles * (args.n_d + 1)

    ref = ReferenceLoop(s, device)
    runners = {"reference": ref.iteration}
    tmp = tempfile.TemporaryDirectory()
    for name in args.variants.split(","):
        cfg = TrainConfig(out=f"{tmp.name}/{name}", settings=s, device="cpu", progress=False,
                          channels_last=name == "channels_last", adam="foreach" if name == "foreach" else "auto")
        trainer = Trainer(cfg, TensorDataset(img, att), log=lambda m: None)

        def step(x, a, trainer=trainer):
            out = trainer.train_step(x, a)
            trainer.step += 1
            return out

        runners[f"trainer:{name}"] = step

    for run in runners.values():  # warm-up: one full D/G cycle each
        time_block(run, img, att, args.n_d + 1)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.blocks):
        for name, run in runners.items():
            times[name].append(time_block(run, img, att, iters))

    print(f"AttGAN training, {args.img_size} px, widths {args.dim}, {args.layers} layers, batch {args.batch}, "
          f"n_d {args.n_d}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    base = statistics.median(times["reference"])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:24s} {1 / med:7.2f} it/s  ({med * 1000:7.1f} ms/it, min {min(values) * 1000:.1f})  "
              f"x{base / med:.2f} vs reference")
    tmp.cleanup()


if __name__ == "__main__":
    main()
