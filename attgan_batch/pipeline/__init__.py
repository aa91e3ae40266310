"""The run pipeline: a manifest in, edited images and a report out.

Its parts, each usable and testable on its own:

- :mod:`.options`  ``RunOptions`` and its groups (engine, edit, output, photo, scale), as the CLI groups them;
- :mod:`.rows`     decode a row's image and plan what the generator makes of it (``RowJob``);
- :mod:`.scheduler` batch planned rows for the generator, over the backend's lanes;
- :mod:`.compose`  a finished row's pictures and report fields;
- :mod:`.writer`   save them atomically inside ``--out`` (writer thread);
- :mod:`.recorder` typed report records, journal, counts and progress;
- :mod:`.resume`   which rows earlier runs really finished (fingerprints);
- :mod:`.run`      ``run_manifest``: lock, load, resume, hand the rows to an executor
  (:mod:`attgan_batch.executors`), write the reports.

Example::

    from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest
    summary = run_manifest("manifests/demo.csv", RunOptions("edited", engine=EngineOptions(batch_size=32)))
    print(summary.exit_code, summary.report_csv)
"""
from .options import EditOptions, EngineOptions, OutputOptions, PhotoOptions, RunOptions, ScaleOptions

__all__ = ["EditOptions", "EngineOptions", "OutputOptions", "PhotoOptions", "RunOptions", "RunSummary",
           "ScaleOptions", "StopRequest", "decode", "make_backend", "run_manifest"]

_WHERE = {"StopRequest": "context", "decode": "rows", "make_backend": "run", "run_manifest": "run",
          "RunSummary": "summary"}


def __getattr__(name: str):  # lazy: building the options (the CLI does it first) loads neither torch nor pandas
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)
