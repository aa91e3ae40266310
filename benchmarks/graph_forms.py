"""What each graph form of the export is worth: the same generator exported four ways, timed on
OpenVINO and ONNX Runtime as ratios against the plain export, all in one process.

The 128 px default-width generator (``Generator()``, random init, eval) is exported with:

  plain           every layer a Conv / ConvTranspose node
  gemm-convs      the small-spatial convolutions as GEMMs (im2col), transposed convolutions plain
  current         what `build-engine` writes: the above plus Winograd transposed convolutions for
                  inputs up to 8x8 (engines.gemm_layers defaults)
  winograd-16     Winograd also for the 16x16-input transposed convolution (why the limit is 8)

OpenVINO is timed the way `run` drives it: one batch per stream, all streams at once (two threads
calling ``infer`` with a batch each); ONNX Runtime with one call per batch. Rounds are interleaved
(A B C D A B C D ...) so drifting load hits every form alike; medians are printed.

    python benchmarks/graph_forms.py [--batch 8] [--rounds 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved_times  # noqa: E402

from attgan_batch.engines import export  # noqa: E402
from attgan_batch.engines.onnx_backend import OnnxRuntimeBackend  # noqa: E402
from attgan_batch.engines.onnx_writer import write_onnx  # noqa: E402
from attgan_batch.engines.openvino_backend import OpenVinoBackend, openvino_available  # noqa: E402
from attgan_batch.model import Generator  # noqa: E402

FORMS = {"plain": (0, 0), "gemm-convs": (4, 0), "current": (4, 8), "winograd-16": (4, 16)}  # (conv, deconv) side


def export_form(generator: Generator, path: Path, conv_side: int, deconv_side: int) -> float:
    """Write the graph as `build-engine` does (engines.onnx_writer) with other layer limits; returns the
    parity check's max abs diff."""
    write_onnx(generator, path, img_size=128, n_attrs=13,
               layer_limits={"max_conv_side": conv_side, "max_deconv_side": deconv_side})
    parity = export.check_parity(path, generator, img_size=128, n_attrs=13, precision="fp32")
    if not parity.passed:
        raise SystemExit(f"{path.name}: the written graph disagrees with PyTorch ({parity})")
    return parity.max_abs_diff


def all_lanes(backend, images: torch.Tensor, attrs: torch.Tensor):
    """One batch per lane, every lane at once, as the run pipeline calls it."""
    lanes = getattr(backend, "concurrency", 1)
    if lanes == 1:
        return lambda: backend.infer(images, attrs)

    def call():
        threads = [threading.Thread(target=backend.infer, args=(images, attrs)) for _ in range(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    torch.manual_seed(0)
    generator = Generator().eval().requires_grad_(False)
    images, attrs = torch.rand(args.batch, 3, 128, 128) * 2 - 1, (torch.rand(args.batch, 13) > 0.5).float() - 0.5
    engines = {"onnxruntime": OnnxRuntimeBackend}
    if openvino_available():
        engines = {"openvino": OpenVinoBackend, **engines}
    with tempfile.TemporaryDirectory(prefix="attgan-forms-") as tmp:
        paths = {}
        for name, (conv_side, deconv_side) in FORMS.items():
            paths[name] = Path(tmp) / f"{name}.onnx"
            diff = export_form(generator, paths[name], conv_side, deconv_side)
            print(f"exported {name:12s} parity max abs diff {diff:.2g}", file=sys.stderr)
        for engine, cls in engines.items():
            backends = {name: cls(path) for name, path in paths.items()}
            lanes = getattr(backends["plain"], "concurrency", 1)
            times = interleaved_times({name: all_lanes(b, images, attrs) for name, b in backends.items()},
                                      repeats=args.rounds)
            print(f"\n{engine}, batch {args.batch} x {lanes} lane(s), {args.rounds} rounds:")
            for name, ts in times.items():
                ratios = [p / t for p, t in zip(times["plain"], ts)]
                vs_gemm = statistics.median(g / t for g, t in zip(times["gemm-convs"], ts))
                print(f"  {name:12s} {args.batch * lanes / statistics.median(ts):6.2f} img/s  "
                      f"x{statistics.median(ratios):.3f} plain (rounds {min(ratios):.2f}-{max(ratios):.2f})  "
                      f"x{vs_gemm:.3f} gemm-convs")


if __name__ == "__main__":
    main()
