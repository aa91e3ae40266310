"""int8 (OpenVINO post-training quantisation with NNCF) against bf16 and fp32: speed and PSNR.

The bar for adopting ``--precision int8``: on both the demo model and a default-width model, >= 1.3x
the throughput of bf16 and >= 38 dB PSNR against fp32 on held-out faces. Calibration: a few of the
demo faces (``manifests/demo``) with their attribute vectors flipped one at a time; the faces used
for PSNR are not among them. Throughput: batches of 16 through OpenVINO's async queue with its
THROUGHPUT hint (as `run` uses it), the three precisions timed interleaved in this one process.

Needs ``pip install nncf`` (not an attgan-batch dependency).

    python benchmarks/int8_experiment.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from _common import default_checkpoint, interleaved  # noqa: E402

from attgan_batch.data.images import load_rgb, preprocess, to_uint8  # noqa: E402
from attgan_batch.defaults import demo_checkpoint  # noqa: E402
from attgan_batch.engines.export import export_onnx  # noqa: E402
from attgan_batch.engines.onnx_backend import cpu_count  # noqa: E402
from attgan_batch.model import load_checkpoint  # noqa: E402

FACES = sorted((Path(__file__).resolve().parents[1] / "manifests" / "demo").glob("*.png"))
N_CALIBRATION = 6  # faces 0-5 calibrate, 6-11 measure
BATCH = 16


def inputs_for(faces: list[Path], img_size: int, n_attrs: int, seed: int) -> list[dict[str, np.ndarray]]:
    """One (image, attributes) feed per face and flipped attribute: the edits `run` makes."""
    rng = np.random.default_rng(seed)
    feeds = []
    for path in faces:
        x = preprocess(load_rgb(path), img_size)[None].numpy()
        source = rng.integers(0, 2, n_attrs).astype(np.float32)
        for k in range(n_attrs):
            a = source.copy()
            a[k] = 1 - a[k]
            feeds.append({"image": x, "attributes": ((a * 2 - 1) * 0.5)[None].astype(np.float32)})
    return feeds


def batched(feeds: list[dict[str, np.ndarray]], size: int) -> list[dict[str, np.ndarray]]:
    return [{k: np.concatenate([f[k] for f in feeds[i:i + size]]) for k in feeds[0]}
            for i in range(0, len(feeds) - size + 1, size)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def outputs(compiled, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    out = [compiled(f)[compiled.outputs[0]] for f in feeds]
    return np.stack([to_uint8(torch.from_numpy(y)) for y in np.concatenate(out)])


def throughput_fn(ov, compiled, batches: list[dict[str, np.ndarray]]):
    queue = ov.AsyncInferQueue(compiled, max(1, int(compiled.get_property("NUM_STREAMS"))))

    def run():
        for feed in batches:
            queue.start_async(feed)
        queue.wait_all()
    return run


def measure(name: str, folder: Path, work: Path, n_batches: int) -> dict[str, float]:
    """``n_batches``: enough for ~1 s per timing on this machine, so the queue's start-up does not dominate."""
    import nncf
    import openvino as ov

    loaded = load_checkpoint(folder)
    s = loaded.settings
    onnx_file = export_onnx(loaded.generator, work / f"{name}.onnx", img_size=s.img_size, n_attrs=s.n_attrs).path
    core = ov.Core()
    model = core.read_model(str(onnx_file))
    calibration = inputs_for(FACES[:N_CALIBRATION], s.img_size, s.n_attrs, seed=1)
    quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration))
    threads = str(cpu_count())
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": threads}
    compiled = {
        "fp32": core.compile_model(model, "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"}),
        "bf16": core.compile_model(model, "CPU", {**config, "INFERENCE_PRECISION_HINT": "bf16"}),
        "int8": core.compile_model(quantized, "CPU", {**config, "INFERENCE_PRECISION_HINT": "bf16"}),
        "int8 (f32 rest)": core.compile_model(quantized, "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"}),
    }
    held_out = inputs_for(FACES[N_CALIBRATION:], s.img_size, s.n_attrs, seed=2)
    reference = outputs(compiled["fp32"], held_out)
    quality = {k: psnr(outputs(c, held_out), reference) for k, c in compiled.items() if k != "fp32"}
    levels = {k: int(np.abs(outputs(c, held_out).astype(int) - reference).max()) for k, c in compiled.items()
              if k != "fp32"}
    batches = (batched(held_out, BATCH) * n_batches)[:n_batches]
    seconds = interleaved({k: throughput_fn(ov, c, batches) for k, c in compiled.items()}, repeats=5)
    images = BATCH * len(batches)
    print(f"\n{name} ({s.img_size} px, enc_dim {s.enc_dim}), batches of {BATCH}, {images} images per timing, "
          f"{threads} threads, median of 5 interleaved")
    for k, sec in seconds.items():
        extra = "" if k == "fp32" else f"  PSNR vs fp32 {quality[k]:5.1f} dB, max {levels[k]} levels"
        print(f"  {k:16s} {images / sec:7.1f} img/s  {seconds['fp32'] / sec:4.2f}x fp32  "
              f"{seconds['bf16'] / sec:4.2f}x bf16{extra}")
    return {"int8_vs_bf16": seconds["bf16"] / seconds["int8"], "int8_psnr": quality["int8"]}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="int8_"))
    results = {"demo": measure("demo", demo_checkpoint(), work, n_batches=96),
               "default-width": measure("default-width", default_checkpoint(work / "ckpt"), work, n_batches=8)}
    adopt = all(r["int8_vs_bf16"] >= 1.3 and r["int8_psnr"] >= 38 for r in results.values())
    print("\nadopt --precision int8:", "yes" if adopt else "no", results)


if __name__ == "__main__":
    main()
