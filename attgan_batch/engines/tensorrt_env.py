"""Whether TensorRT can run here, and if not, a message that says why and what to use instead.

TensorRT is an optional extra that cannot even be installed on most machines (its pip wheel
downloads the real libraries from NVIDIA's index), so it is imported only through this module and
each way it can be missing is told apart: no package, bindings without libraries, no CUDA GPU, a
GPU older than the installed TensorRT supports.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import EngineUnavailable

# lowest compute capability each TensorRT major version runs on (10.x and 11.x dropped Volta and older)
MIN_COMPUTE_CAPABILITY = {8: (5, 0), 10: (7, 5), 11: (7, 5)}
FALLBACK = "use --backend onnxruntime (CPU) or --backend torch instead"
INSTALL = ("install it on a machine with an NVIDIA GPU and CUDA (`pip install --extra-index-url "
           "https://pypi.nvidia.com 'attgan-batch[tensorrt]'`) or use the Docker image (docs/engines.md)")


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or EngineUnavailable telling 'not installed' from 'libraries missing'."""
    try:
        return importlib.import_module("tensorrt")
    except ModuleNotFoundError as exc:
        if exc.name != "tensorrt":  # the package is there but one of its parts (bindings, libs) is not
            raise _libraries_missing(exc) from exc
        raise EngineUnavailable(f"TensorRT is not installed (no Python module 'tensorrt'); {INSTALL}; {FALLBACK}.") from exc
    except (ImportError, OSError) as exc:
        raise _libraries_missing(exc) from exc


def _libraries_missing(exc: BaseException) -> EngineUnavailable:
    return EngineUnavailable(
        f"TensorRT's Python bindings are installed but its native libraries cannot be loaded ({exc}). "
        "The `tensorrt` pip package fetches them from NVIDIA's index at install time, so this is a partial "
        f"install or a machine without CUDA libraries: reinstall, or {INSTALL}; meanwhile {FALLBACK}."
    )


def tensorrt_version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))


def tensorrt_major(trt: Any) -> int:
    match = re.match(r"(\d+)", tensorrt_version(trt))
    return int(match.group(1)) if match else 0


@dataclass
class GpuInfo:
    index: int
    name: str
    compute_capability: str  # "8.6"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "compute_capability": self.compute_capability}

    @property
    def slug(self) -> str:
        name = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()
        return f"{name}-sm{self.compute_capability.replace('.', '')}"


def require_gpu(trt: Any, device_index: int = 0) -> GpuInfo:
    """The CUDA GPU TensorRT will use, or EngineUnavailable (no GPU / GPU too old for this TensorRT)."""
    version = tensorrt_version(trt)
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"a CUDA {torch.version.cuda} build"
        raise EngineUnavailable(
            f"TensorRT {version} needs an NVIDIA CUDA GPU, but PyTorch ({build}) sees none. Run on a GPU "
            f"machine (in Docker: `docker run --gpus all ...`), or {FALLBACK}."
        )
    if device_index >= torch.cuda.device_count():
        raise EngineUnavailable(f"GPU {device_index} does not exist ({torch.cuda.device_count()} visible); "
                                "pick another --device cuda:N")
    major, minor = torch.cuda.get_device_capability(device_index)
    name = torch.cuda.get_device_name(device_index)
    lowest = MIN_COMPUTE_CAPABILITY.get(tensorrt_major(trt), (7, 5))
    if (major, minor) < lowest:
        raise EngineUnavailable(
            f"GPU {device_index} ({name}) has compute capability {major}.{minor}, but TensorRT {version} supports "
            f"{lowest[0]}.{lowest[1]} (Turing) and newer. Use --backend torch --device cuda on this GPU, or "
            "--backend onnxruntime."
        )
    return GpuInfo(device_index, name, f"{major}.{minor}")


def tensorrt_ready(device_index: int = 0) -> tuple[Any, GpuInfo]:
    """(tensorrt module, GPU) when TensorRT can run here; EngineUnavailable otherwise."""
    trt = import_tensorrt()
    return trt, require_gpu(trt, device_index)


def torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    """The torch dtype for a TensorRT tensor dtype (I/O of our plans is fp32, fp16 plans included)."""
    table = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT32": torch.int32,
             "INT64": torch.int64, "BOOL": torch.bool, "INT8": torch.int8, "UINT8": torch.uint8}
    for name, value in table.items():
        if hasattr(trt.DataType, name) and dtype == getattr(trt.DataType, name):
            return value
    raise EngineUnavailable(f"the plan has an I/O tensor of TensorRT type {dtype}, which this tool cannot feed; "
                            "rebuild it with `attgan-batch build-engine --target tensorrt`")
