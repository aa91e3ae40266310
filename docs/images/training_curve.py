"""Make docs/images/demo_training_curve.png from the metrics.jsonl files of a chain of runs.

    python docs/images/training_curve.py runs/demo2 runs/F1 runs/F3 runs/F4 [--out PNG]

Each run continues the previous one (fine-tuning), so iterations are laid end to end. Plots the
G losses that say whether editing and reconstruction improve (gc_loss: C's BCE on the edits,
gr_loss: L1 reconstruction) and the critic's Wasserstein estimate (-df_loss). Needs matplotlib.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("demo_training_curve.png"))
    args = parser.parse_args()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    offset = 0
    colours = plt.get_cmap("tab20" if len(args.runs) > 10 else "tab10").colors  # one colour per run
    for i, run in enumerate(args.runs):
        rows = [json.loads(line) for line in open(run / "metrics.jsonl") if '"step"' in line]
        rows = [r for r in rows if "gr_loss" in r]
        steps = [offset + r["step"] for r in rows]
        for ax, key, sign in zip(axes, ("gc_loss", "gr_loss", "df_loss"), (1, 1, -1)):
            ax.plot(steps, [sign * r[key] for r in rows], lw=1, label=run.name, color=colours[i % len(colours)])
        offset = steps[-1] if steps else offset
    for ax, title in zip(axes, ("G: attribute BCE on edits (gc_loss)", "G: L1 reconstruction (gr_loss)",
                                "critic: Wasserstein estimate (-df_loss)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
