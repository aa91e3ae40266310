"""The ``attgan-batch`` command line: a thin click layer over the library API.

Commands live in one module each and are imported only when invoked, so ``--help`` stays fast
(importing torch takes seconds). Exit codes: 0 success, 1 some rows or checks failed, 2 usage
error (bad option, unreadable manifest, unusable checkpoint), 130 interrupted.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys

import click

from ..version import __version__

# command name -> (module under attgan_batch.cli, attribute, one-line help for the listing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("run", "run_command", "Edit every row of a manifest; write images and a report."),
    "check": ("check", "check_command", "Validate a manifest without running the model."),
    "info": ("info", "info_command", "Describe a checkpoint: attributes, sizes, source prediction, engine."),
    "build-engine": ("engine", "build_engine_command", "Export the generator to ONNX / build a TensorRT plan."),
    "train": ("train", "train_command", "Train AttGAN (CPU, CUDA, torchrun multi-GPU)."),
    "synth": ("synth", "synth_command", "Draw a synthetic face dataset with known attributes."),
    "train-classifier": ("train_classifier", "train_classifier_command", "Train an independent attribute classifier."),
    "eval": ("evaluate", "eval_command", "Measure editing accuracy, preservation and reconstruction."),
    "eval-style": ("eval_style", "eval_style_command", "Measure how a style model's codes control its attribute."),
    "report": ("report", "report_group", "Work with run reports (merge shard reports)."),
    "cache": ("cache", "cache_group", "Show or clear the per-user engine cache."),
}


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    return importlib.util.find_spec(f"{__name__}.{module}") is not None


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="attgan-batch")
def main() -> None:
    """Edit facial attributes in batches of photos with AttGAN.

    \b
    Quick start:
      attgan-batch run manifests/demo.csv --out edited/
      attgan-batch check manifests/demo.csv
    Manifest format, exit codes and examples: see README.md.
    """


_quick_exit = False


def allow_quick_exit() -> None:
    """Called by a command whose work is written, flushed and closed: :func:`entry` may then skip
    the interpreter's teardown."""
    global _quick_exit
    _quick_exit = True


def entry() -> None:
    """The ``attgan-batch`` console script (and ``python -m attgan_batch``): :func:`main`, then, after a
    finished local ``run``, a quick exit.

    Why: after a run the interpreter's own teardown (unloading torch and OpenVINO, freeing the
    engine) took ~0.5 s, 15% of a 48-image job; by then every output, report and journal is
    written, fsynced and closed, and the lock released, so nothing is left for it to do. Other
    commands, Ray runs and in-process callers (``main`` itself) exit normally."""
    try:
        main()
    except SystemExit as exc:
        if not _quick_exit or "ray" in sys.modules or not (exc.code is None or isinstance(exc.code, int)):
            raise
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        logging.shutdown()
        os._exit(exc.code or 0)
