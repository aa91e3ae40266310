"""TensorRT paths without TensorRT or a GPU: every way it can be unavailable gives a message that says why
and what to use instead. Only the import and hardware layer is faked (sys.modules['tensorrt'], torch.cuda
queries); the code under test is the real builder / backend code.
"""
from __future__ import annotations

import sys
import types

import pytest
import torch

from attgan_batch.engines import select_backend
from attgan_batch.engines.options import EngineOptions
from attgan_batch.engines.sidecar import build_meta
from attgan_batch.engines.tensorrt_backend import TensorRTBackend
from attgan_batch.engines.tensorrt_build import build_plan, timing_cache_path
from attgan_batch.engines.tensorrt_env import GpuInfo, import_tensorrt, require_gpu, tensorrt_ready, torch_dtype
from attgan_batch.errors import EngineUnavailable
from attgan_batch.model import load_checkpoint


class _Enum:
    def __init__(self, **members):
        self.__dict__.update(members)


def fake_tensorrt(version="11.4.0", *, plan: bytes | None = b"PLAN", parse_ok=True, engine=None):
    """A stand-in for the ``tensorrt`` module with the calls this project makes, recording them."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class TimingCache:
        def serialize(self):
            return b"TIMING"

    class Config:
        builder_optimization_level = 3

        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("workspace", size))

        def clear_flag(self, flag):
            trt.calls.append(("clear_flag", flag))

        def add_optimization_profile(self, profile):
            trt.calls.append(("profile", dict(profile.shapes)))

        def create_timing_cache(self, blob):
            trt.calls.append(("timing_cache_in", bytes(blob)))
            return TimingCache()

        def set_timing_cache(self, cache, ignore_mismatch):
            return True

        def get_timing_cache(self):
            return TimingCache()

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, lo, opt, hi):
            self.shapes[name] = (lo, opt, hi)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            trt.calls.append(("network_flags", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return plan

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            trt.calls.append(("parse", path))
            return parse_ok

        def get_error(self, i):
            return "In node 3 (Conv): unsupported"

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            trt.calls.append(("deserialize", len(data)))
            return engine

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    trt.NetworkDefinitionCreationFlag = _Enum(STRONGLY_TYPED=0)
    trt.MemoryPoolType = _Enum(WORKSPACE=0)
    trt.BuilderFlag = _Enum(TF32=7)
    trt.DataType = _Enum(FLOAT=0, HALF=1, INT32=3)
    return trt


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def gpu(monkeypatch, capability=(8, 9), name="NVIDIA L4"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: name)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)


def test_tensorrt_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EngineUnavailable) as err:
        import_tensorrt()
    message = str(err.value)
    assert "TensorRT is not installed" in message
    assert "attgan-batch[tensorrt]" in message and "--backend onnxruntime" in message


def test_bindings_present_but_libraries_missing(monkeypatch, tmp_path):
    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise ImportError('libnvinfer.so.11: cannot open shared object file: No such file or directory')\n")
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EngineUnavailable) as err:
        import_tensorrt()
    message = str(err.value)
    assert "bindings are installed but its native libraries cannot be loaded" in message
    assert "libnvinfer.so.11" in message and "--backend onnxruntime" in message


def test_bindings_with_a_missing_part(monkeypatch, tmp_path):
    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text("import tensorrt_libs_not_here\n")
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EngineUnavailable, match="native libraries cannot be loaded"):
        import_tensorrt()


def test_no_cuda_gpu(monkeypatch, no_gpu):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt())
    with pytest.raises(EngineUnavailable) as err:
        tensorrt_ready()
    message = str(err.value)
    assert "TensorRT 11.4.0 needs an NVIDIA CUDA GPU" in message
    assert "--gpus all" in message and "--backend onnxruntime" in message


@pytest.mark.parametrize("version", ["10.13.3", "11.4.0"])
def test_gpu_too_old(monkeypatch, version):
    gpu(monkeypatch, capability=(7, 0), name="Tesla V100-SXM2-16GB")
    with pytest.raises(EngineUnavailable) as err:
        require_gpu(fake_tensorrt(version))
    message = str(err.value)
    assert "Tesla V100-SXM2-16GB" in message and "compute capability 7.0" in message
    assert f"TensorRT {version} supports 7.5" in message
    assert "--backend torch --device cuda" in message and "--backend onnxruntime" in message


def test_supported_gpu(monkeypatch):
    gpu(monkeypatch, capability=(7, 5), name="Tesla T4")
    info = require_gpu(fake_tensorrt())
    assert info == GpuInfo(0, "Tesla T4", "7.5") and info.slug == "tesla-t4-sm75"


def test_plan_incompatible(monkeypatch, tmp_path):
    gpu(monkeypatch, capability=(9, 0), name="NVIDIA H100 80GB HBM3")
    trt = fake_tensorrt("11.4.0", engine=None)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    plan = tmp_path / "generator-fp16.plan"
    plan.write_bytes(b"a plan built elsewhere")
    meta = build_meta(target="tensorrt", artifact=plan, checkpoint_sha256="a" * 64, checkpoint_path="ckpt",
                      precision="fp16", opset=18, image_size=128, n_attrs=13, profile=(1, 8, 32), parity={},
                      onnx_sha256="b" * 64, tensorrt_version="10.13.3",
                      gpu={"name": "NVIDIA L4", "compute_capability": "8.9"})
    with pytest.raises(EngineUnavailable) as err:
        TensorRTBackend(plan, meta=meta, rebuild="attgan-batch build-engine --checkpoint ckpt --target tensorrt")
    message = str(err.value)
    assert ("deserialize", len(b"a plan built elsewhere")) in trt.calls
    assert "cannot load plan" in message and "TensorRT 10.13.3 on NVIDIA L4 (sm 8.9)" in message
    assert "attgan-batch build-engine --checkpoint ckpt --target tensorrt" in message
    assert "--backend onnxruntime" in message


def _onnx_file(tmp_path):
    path = tmp_path / "generator-fp16.onnx"
    path.write_bytes(b"onnx")
    return path


@pytest.mark.parametrize("version, flags", [("10.13.3", 1), ("11.4.0", 0)])
def test_build_plan_strongly_typed_profile_and_timing_cache(monkeypatch, tmp_path, version, flags):
    gpu(monkeypatch, capability=(8, 9), name="NVIDIA L4")
    trt = fake_tensorrt(version, plan=b"PLANBYTES")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    engines = tmp_path / "engines"
    out = build_plan(_onnx_file(tmp_path), engines / "x" / "g.plan", profile=(1, 8, 32), image_size=128,
                     n_attrs=13, precision="fp32", engines_dir=engines, workspace_gib=2, log=lambda m: None)
    assert out.path.read_bytes() == b"PLANBYTES"
    assert ("network_flags", flags) in trt.calls  # STRONGLY_TYPED on 10.x; always on (flag ignored) in 11.x
    assert ("workspace", 2 << 30) in trt.calls and ("clear_flag", 7) in trt.calls
    assert ("profile", {"image": ((1, 3, 128, 128), (8, 3, 128, 128), (32, 3, 128, 128)),
                        "attributes": ((1, 13), (8, 13), (32, 13))}) in trt.calls
    cache = timing_cache_path(engines, version, GpuInfo(0, "NVIDIA L4", "8.9"))
    assert out.timing_cache == cache and cache.read_bytes() == b"TIMING" and not out.timing_cache_reused
    assert cache.name == f"trt{version}-nvidia-l4-sm89.cache"
    again = build_plan(_onnx_file(tmp_path), engines / "x" / "g.plan", profile=(1, 8, 32), image_size=128,
                       n_attrs=13, precision="fp32", engines_dir=engines, log=lambda m: None)
    assert again.timing_cache_reused and ("timing_cache_in", b"TIMING") in trt.calls


def test_build_failure_is_an_error(monkeypatch, tmp_path):
    gpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(plan=None))
    with pytest.raises(EngineUnavailable, match="failed to build a plan"):
        build_plan(_onnx_file(tmp_path), tmp_path / "g.plan", profile=(1, 8, 32), image_size=128, n_attrs=13,
                   precision="fp16", engines_dir=tmp_path, log=lambda m: None)
    assert not (tmp_path / "g.plan").exists()


def test_parse_failure_lists_parser_errors(monkeypatch, tmp_path):
    gpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(parse_ok=False))
    with pytest.raises(EngineUnavailable, match=r"cannot parse .*In node 3 \(Conv\): unsupported"):
        build_plan(_onnx_file(tmp_path), tmp_path / "g.plan", profile=(1, 8, 32), image_size=128, n_attrs=13,
                   precision="fp16", engines_dir=tmp_path, log=lambda m: None)


def test_torch_dtype_mapping():
    trt = fake_tensorrt()
    assert torch_dtype(trt, trt.DataType.FLOAT) is torch.float32
    assert torch_dtype(trt, trt.DataType.HALF) is torch.float16
    with pytest.raises(EngineUnavailable, match="cannot feed"):
        torch_dtype(trt, 99)


def test_select_tensorrt_says_why_and_what_instead(monkeypatch, tiny_checkpoint, tmp_path, no_gpu):
    loaded = load_checkpoint(tiny_checkpoint)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EngineUnavailable, match="TensorRT is not installed.*--backend onnxruntime"):
        select_backend(loaded, EngineOptions(backend="tensorrt", engines_dir=tmp_path), log=lambda m: None)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt())
    with pytest.raises(EngineUnavailable, match="needs an NVIDIA CUDA GPU"):
        select_backend(loaded, EngineOptions(backend="tensorrt", engines_dir=tmp_path), log=lambda m: None)
    with pytest.raises(EngineUnavailable, match="not on --device cpu"):
        select_backend(loaded, EngineOptions(backend="tensorrt", device="cpu", engines_dir=tmp_path), log=lambda m: None)


def test_select_tensorrt_without_a_plan_gives_the_build_command(monkeypatch, tiny_checkpoint, tmp_path):
    gpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt())
    loaded = load_checkpoint(tiny_checkpoint)
    with pytest.raises(EngineUnavailable) as err:
        select_backend(loaded, EngineOptions(backend="tensorrt", engines_dir=tmp_path / "engines", batch_size=16), log=lambda m: None)
    message = str(err.value)
    assert "no fresh TensorRT plan" in message and "NVIDIA L4" in message
    assert f"attgan-batch build-engine --checkpoint {tiny_checkpoint} --precision fp32 --batch 1:16:32" in message
