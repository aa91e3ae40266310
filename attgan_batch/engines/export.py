"""Export the generator to one ONNX file and prove it computes what PyTorch computes.

Why ONNX: OpenVINO and ONNX Runtime run it 1.3-4x faster than eager PyTorch on CPU, and TensorRT builds its
plans from it. Why the precision lives in the graph: TensorRT 11 networks are strongly typed, so
"fp16" means fp16 weights and compute with fp32 inputs/outputs through Cast nodes, and that is
what this module writes.

Who writes the graph: :mod:`.onnx_writer`, straight from the generator's layers (well under a
second, against 25-35 s for torch's dynamo exporter at default width). When it cannot translate a
generator, or its graph disagrees with PyTorch, torch's dynamo exporter and then its legacy
TorchScript exporter are tried; the sidecar's notes say why. Why the parity check: a hand-written
graph, like the dynamo exporter (which has had numerical bugs on convnets), must prove itself, so
every export is compared with the untouched PyTorch model on fixed inputs.

``graph``: "cpu" writes the small-spatial layers in the exact GEMM / Winograd forms that CPU engines
run faster (engines.gemm_layers); "plain" keeps every layer a Conv / ConvTranspose node, for
TensorRT, which picks its own convolution tactics.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..atomic import temp_beside
from ..errors import EngineUnavailable
from .gemm_layers import with_gemm_layers
from .graph_io import INPUT_NAMES, OUTPUT_NAME, STYLE_INPUT  # noqa: F401 - re-exported
from .onnx_writer import GRAPHS, WriterUnsupported, write_onnx

OPSET = 18
PRECISIONS = ("fp32", "fp16")
# max |engine - PyTorch fp32| on [-1, 1] outputs; one 8-bit level is 2/255 ~ 7.8e-3. bf16 (OpenVINO's
# bf16 inference over an fp32 graph, never a graph precision): 8.8e-3 measured on the demo model
TOLERANCE = {"fp32": 1e-4, "fp16": 5e-3, "bf16": 2e-2}
EXPORTERS = ("direct", "dynamo", "legacy")  # tried in this order
PARITY_BATCH = 3  # differs from the export example batch (2), so the dynamic axis is exercised too


class ParityError(EngineUnavailable):
    """An exported graph (or plan) disagrees with PyTorch beyond the tolerance."""


@dataclass
class Parity:
    """How far an artefact's output is from its reference on fixed inputs."""

    status: str  # "passed" | "failed" | "skipped"
    max_abs_diff: float | None
    tolerance: float
    reference: str
    batch: int
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExportResult:
    path: Path
    precision: str
    opset: int
    exporter: str  # "direct" (engines.onnx_writer) | "dynamo" | "legacy"
    parity: Parity
    seconds: float
    notes: list[str] = field(default_factory=list)
    graph: str = "cpu"  # "cpu" (GEMM / Winograd forms) | "plain"


class HalfPrecision(nn.Module):
    """fp16 weights and compute, fp32 I/O: the casts become ONNX Cast nodes at the graph edges."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator.half()

    def forward(self, image: torch.Tensor, attributes: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(image.half(), attributes.half(), None if style is None else style.half()).float()


def input_names(n_style: int = 0) -> list[str]:
    """The graph's inputs: image, attributes, and style for a style model."""
    return [*INPUT_NAMES, STYLE_INPUT] if n_style else list(INPUT_NAMES)


def parity_inputs(img_size: int, n_attrs: int, batch: int = PARITY_BATCH, seed: int = 0,
                  n_style: int = 0) -> tuple[torch.Tensor, ...]:
    """Fixed, seeded inputs in the ranges the generator sees: images, attributes (and style) in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, img_size, img_size, generator=gen) * 2 - 1
    a = torch.rand(batch, n_attrs, generator=gen) * 2 - 1
    if not n_style:
        return x, a
    return x, a, torch.rand(batch, n_style, generator=gen) * 2 - 1


def export_model(generator: nn.Module, precision: str, img_size: int | None = None) -> nn.Module:
    """A CPU, contiguous, eval-mode copy in the requested precision (the caller's model is untouched).

    With ``img_size``, the small-spatial layers take their exact GEMM forms (engines.gemm_layers):
    the "cpu" graph. Without it, the plain model (the parity reference, and the "plain" graph)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    model = copy.deepcopy(generator).cpu().float().eval().requires_grad_(False)
    model = model.to(memory_format=torch.contiguous_format)
    if img_size is not None:
        model = with_gemm_layers(model, img_size).eval()
    return HalfPrecision(model).eval() if precision == "fp16" else model


def _export_dynamo(model: nn.Module, example: tuple[torch.Tensor, ...], path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    names = input_names(len(example) - 2)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), dynamo=True, opset_version=opset, external_data=False,
            input_names=names, output_names=[OUTPUT_NAME],
            dynamic_shapes=tuple({0: batch} for _ in example), verbose=False,
        )


def _export_legacy(model: nn.Module, example: tuple[torch.Tensor, ...], path: Path, opset: int) -> None:
    names = input_names(len(example) - 2)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, example, str(path), dynamo=False, opset_version=opset,
            input_names=names, output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch"} for name in (*names, OUTPUT_NAME)},
            do_constant_folding=True,
        )


def _is_plain_cpu_fp32(generator: nn.Module) -> bool:
    """True when ``generator`` can serve as the fp32 reference as it is (no copy of its 43M weights)."""
    tensors = [*generator.parameters(), *generator.buffers()]
    return not generator.training and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors
                                          if t.is_floating_point())


def reference_outputs(generator: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The untouched PyTorch model's fp32 outputs on ``inputs``: what every engine is compared with."""
    model = generator if _is_plain_cpu_fp32(generator) else export_model(generator, "fp32")
    with torch.inference_mode():
        return model(*inputs)


def compare(got: torch.Tensor, expected: torch.Tensor, tolerance: float, reference: str, batch: int) -> Parity:
    diff = float((got - expected).abs().max())
    if not diff <= tolerance:  # also catches NaN
        return Parity("failed", diff, tolerance, reference, batch)
    return Parity("passed", diff, tolerance, reference, batch)


def check_parity(onnx_path: Path, generator: nn.Module, *, img_size: int, n_attrs: int, precision: str,
                 batch: int = PARITY_BATCH, n_style: int = 0) -> Parity:
    """Max |ONNX Runtime - PyTorch fp32| on fixed inputs; 'skipped' when onnxruntime is missing."""
    tolerance = TOLERANCE[precision]
    reference = "pytorch fp32 (seeded inputs)"
    from .onnx_backend import onnxruntime_available, run_onnx

    if not onnxruntime_available():
        return Parity("skipped", None, tolerance, reference, batch,
                      "onnxruntime is not installed (pip install 'attgan-batch[onnx]')")
    inputs = parity_inputs(img_size, n_attrs, batch, n_style=n_style)
    expected = reference_outputs(generator, inputs)
    return compare(run_onnx(onnx_path, *inputs), expected, tolerance, reference, batch)


def _write_direct(generator: nn.Module, precision: str, img_size: int, n_attrs: int, graph: str, opset: int):
    def run(_model: nn.Module, _example: tuple[torch.Tensor, ...], path: Path, _opset: int) -> None:
        write_onnx(generator, path, img_size=img_size, n_attrs=n_attrs, precision=precision, graph=graph, opset=opset)
    return run


def export_onnx(generator: nn.Module, path: str | Path, *, img_size: int, n_attrs: int, precision: str = "fp32",
                opset: int = OPSET, graph: str = "cpu", log: Callable[[str], Any] | None = None,
                exporters: tuple[str, ...] = EXPORTERS) -> ExportResult:
    """Write ``path`` (atomically) after the parity check passes; raise ParityError otherwise.

    The direct writer first; torch's dynamo exporter when the writer cannot translate the generator or
    its graph disagrees; the legacy TorchScript exporter when dynamo raises or disagrees too.
    ``exporters`` narrows that list (benchmarks and tests compare them).
    """
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    unknown = [name for name in exporters if name not in EXPORTERS]
    if unknown or not exporters:
        raise ValueError(f"exporters must be a non-empty subset of {EXPORTERS}, got {exporters!r}")
    n_style = getattr(generator, "n_style", 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    notes: list[str] = []
    start = time.perf_counter()
    parity: Parity | None = None
    torch_model: nn.Module | None = None
    example: tuple[torch.Tensor, ...] = ()
    runs = {"direct": _write_direct(generator, precision, img_size, n_attrs, graph, opset),
            "dynamo": _export_dynamo, "legacy": _export_legacy}
    try:
        for exporter in exporters:
            run = runs[exporter]
            if exporter != "direct" and torch_model is None:  # only torch's exporters need the copy
                torch_model = export_model(generator, precision, img_size if graph == "cpu" else None)
                example = parity_inputs(img_size, n_attrs, batch=2, seed=1, n_style=n_style)
            try:
                run(torch_model, example, tmp, opset)
            except WriterUnsupported as exc:
                notes.append(f"direct writer cannot translate this generator ({exc}); used torch's exporter")
                continue
            except Exception as exc:  # an exporter bug must not hide behind the other exporter's result
                notes.append(f"{exporter} exporter failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                continue
            parity = check_parity(tmp, generator, img_size=img_size, n_attrs=n_attrs, precision=precision,
                                  n_style=n_style)
            if parity.status != "failed":
                break
            notes.append(f"{exporter} export disagrees with PyTorch: max abs diff {parity.max_abs_diff:.3g} "
                         f"> {parity.tolerance:g}")
        else:
            if parity is None:
                raise EngineUnavailable("ONNX export failed with every exporter: " + "; ".join(notes)
                                        + ". Use --backend torch.")
            raise ParityError(
                f"the {precision} ONNX export disagrees with PyTorch ({'; '.join(notes)}); not using it. "
                "Use --backend torch" + (" or --precision fp32" if precision != "fp32" else "") + "."
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if log is not None:
        for note in notes:
            log(note)
    return ExportResult(path, precision, opset, exporter, parity, time.perf_counter() - start, notes, graph)
