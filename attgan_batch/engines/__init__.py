"""Inference backends behind one interface (see :mod:`.base`), the engine artefacts they run, and
:func:`select_backend`, which picks one for a run.

OpenVINO, ONNX Runtime and TensorRT are optional extras: nothing here imports them until a backend
needs them. This package itself imports nothing until a name is used, so :class:`EngineOptions`
(:mod:`.options`) is cheap to build before torch is loaded.
"""
from .options import EngineOptions

__all__ = ["Backend", "CHOICES", "EngineOptions", "TorchBackend", "resolve_device", "select_backend"]

_WHERE = {"Backend": "base", "CHOICES": "select", "select_backend": "select", "TorchBackend": "torch_backend",
          "resolve_device": "torch_backend"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)
