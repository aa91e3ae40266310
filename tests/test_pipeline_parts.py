"""The run pipeline's public parts, one at a time, and the package's import graph."""
from __future__ import annotations

import ast
import csv
import dataclasses
from pathlib import Path

import pytest
from conftest import write_checkpoint, write_image

import attgan_batch
from attgan_batch.report import REPORT_COLUMNS

PACKAGE = Path(attgan_batch.__file__).parent


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its body (lazy imports count too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("attgan_batch",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if sub in modules else target)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    graph = _import_graph()
    assert "attgan_batch.pipeline.run" in graph and "attgan_batch.executors.ray_executor" in graph
    assert graph["attgan_batch.executors.ray_executor"] >= {"attgan_batch.pipeline.scheduler",
                                                           "attgan_batch.pipeline.writer"}  # the walk sees edges
    assert _cycles(graph) == []


def test_no_module_imports_a_private_name_of_another_module():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{path.name}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


def test_report_records_are_typed_by_the_report_columns():
    from attgan_batch.pipeline.recorder import RowRecord

    names = [f.name for f in dataclasses.fields(RowRecord)]
    assert names[:len(REPORT_COLUMNS)] == REPORT_COLUMNS
    record = RowRecord(line=2, id="a", input="x.png", output="a.png")
    assert "fingerprint" not in record.to_dict() and record.to_dict()["status"] == "ok"


def test_the_scheduler_splits_only_the_last_batches_over_the_lanes():
    from attgan_batch.pipeline.scheduler import Scheduler

    class Lanes:
        concurrency = 3

    class FakeEditor:
        backend = Lanes()

    scheduler = Scheduler(FakeEditor(), None, batch_size=12, on_done=print, on_failed=print)
    batch = list(range(12))
    assert scheduler.lane_parts(batch) == [batch]
    scheduler.end()
    parts = scheduler.lane_parts(batch)
    assert len(parts) == 6 and sum(parts, []) == batch


def test_executors_come_from_the_registry():
    from attgan_batch.errors import AttGANBatchError
    from attgan_batch.executors import EXECUTORS, get_executor

    assert [type(get_executor(name)).__name__ for name in EXECUTORS] == ["LocalExecutor", "RayExecutor"]
    with pytest.raises(AttGANBatchError, match="local, ray"):
        get_executor("dask")


def test_the_writer_and_the_planner_run_without_the_rest_of_the_pipeline(tmp_path, tiny_checkpoint):
    """A RowJob planned by hand, written by an OutputWriter, recorded by a Recorder: the parts compose."""
    from attgan_batch.atomic import OutputDir
    from attgan_batch.editor import Editor
    from attgan_batch.manifest import ManifestReader
    from attgan_batch.pipeline.recorder import Recorder
    from attgan_batch.pipeline.rows import RowPlanner, decode
    from attgan_batch.pipeline.summary import RunSummary
    from attgan_batch.pipeline.writer import OutputWriter

    write_image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("id,image,source,edit\nr,a.png,\"0,0,1,0,0,0,0,1,1,1,0,0,1\",flip-each\n")
    editor = Editor.from_checkpoint(tiny_checkpoint, device="cpu")
    row = next(iter(ManifestReader(tmp_path / "m.csv", editor.attrs, tmp_path / "out")))
    job = RowPlanner(editor, grid=True).plan(row, decode(row, editor.img_size, "auto", 10**7), 0.0)
    assert job.n_images == 14  # recon + 13 flips; flip-each has no extra reconstruction
    for k, (x, plan) in enumerate(job.work()):
        a, _ = editor.inputs([plan])
        job.finish(k, editor.generate(x[None], a)[0])
    records = []

    class Journal:
        def record(self, record):
            records.append(record)

    with OutputDir(tmp_path / "out") as out:
        writer = OutputWriter(out, editor, Recorder(Journal(), RunSummary("m", "out")), grid=True)
        writer.put(job)
        writer.close()
    assert records[0]["status"] == "ok" and records[0]["files"] == ["r.png"]  # flip-each: the output is the grid
    assert records[0]["edited"] == "flip-each"


def test_check_and_run_agree_on_a_style_row_for_a_plain_model(tmp_path):
    from attgan_batch.checking import check_manifest
    from attgan_batch.pipeline import EngineOptions, RunOptions, run_manifest

    ckpt = write_checkpoint(tmp_path / "plain", with_d=True)
    write_image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image", "source", "edit", "style"])
        writer.writerow(["given", "a.png", "0,0,1,0,0,0,0,1,1,1,0,0,1", "Eyeglasses=1", "Eyeglasses=0.5"])
        writer.writerow(["predicted", "a.png", "", "Eyeglasses=1", "Eyeglasses=0.5"])
    checked = {r["id"]: r for r in check_manifest(manifest, ckpt).rows}
    run = run_manifest(manifest, RunOptions(tmp_path / "out", ckpt, engine=EngineOptions(backend="torch")))
    with open(tmp_path / "out" / "report.csv", newline="") as fh:
        ran = {r["id"]: r for r in csv.DictReader(fh)}
    assert run.failed == 2
    for row_id in ("given", "predicted"):
        assert checked[row_id]["status"] == "invalid" and ran[row_id]["status"] == "failed"
        assert "no style controllers" in checked[row_id]["details"]


def test_the_align_settings_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; import attgan_batch.align, attgan_batch.pipeline.options; "
            "from attgan_batch.align import AlignOptions; AlignOptions(face='all'); "
            "print(sorted(m for m in ('torch', 'cv2', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_select_builds_the_torch_backend_in_one_place():
    """One constructor per backend: TorchBackend(...) appears in select.py only in _torch."""
    source = (PACKAGE / "engines" / "select.py").read_text()
    assert source.count("TorchBackend(") == 2  # the eager and the compiled call inside _torch


def test_grid_captions_wrap_and_are_never_cut():
    import torch

    from attgan_batch.render import grid_image, wrap_caption

    for label in ("Bushy_Eyebrows", "Mouth_Slightly_Open", "Blond_Hair=1;Young=0"):
        lines = wrap_caption(label, 10)
        assert "".join(lines) == label and all(len(line) <= 10 for line in lines)
    sheet = grid_image(torch.zeros(3, 64, 64), torch.zeros(2, 3, 64, 64), ["Bushy_Eyebrows", "Male"])
    assert sheet.size == (3 * 64, 64 + 2 * 12 + 2)


def test_flip_each_with_grid_writes_no_second_copy(tmp_path, tiny_checkpoint):
    from attgan_batch.pipeline import EngineOptions, OutputOptions, RunOptions, run_manifest

    write_image(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text('id,image,source,edit\nr,a.png,"0,0,1,0,0,0,0,1,1,1,0,0,1",flip-each\n')
    out = tmp_path / "out"
    run_manifest(tmp_path / "m.csv", RunOptions(out, tiny_checkpoint, engine=EngineOptions(backend="torch"),
                                                output=OutputOptions(grid=True)))
    assert (out / "r.png").is_file() and not (out / "r.grid.png").exists()
    with open(out / "report.csv", newline="") as fh:
        assert "grid: the output itself" in next(csv.DictReader(fh))["note"]


def test_residual_composition_of_a_reconstruction_is_the_input_itself(tmp_path, tiny_checkpoint):
    """x + (G(x, a) - G(x, a)) = x: the model's reconstruction error cancels, bit for bit."""
    import numpy as np
    from PIL import Image

    from attgan_batch.data.images import load_rgb, preprocess, to_uint8
    from attgan_batch.pipeline import EngineOptions, OutputOptions, RunOptions, run_manifest

    write_image(tmp_path / "a.png", size=(32, 32))
    (tmp_path / "m.csv").write_text('id,image,source,edit\nrecon,a.png,"0,0,1,0,0,0,0,1,1,1,0,0,1",\n'
                                    'edit,a.png,"0,0,1,0,0,0,0,1,1,1,0,0,1",Male=0\n')
    out = {}
    for compose in ("replace", "residual"):
        out[compose] = tmp_path / compose
        run_manifest(tmp_path / "m.csv", RunOptions(out[compose], tiny_checkpoint, engine=EngineOptions(backend="torch"),
                                                    output=OutputOptions(compose=compose)))
    x = to_uint8(preprocess(load_rgb(tmp_path / "a.png"), 32, "auto"))
    assert np.array_equal(np.asarray(Image.open(out["residual"] / "recon.png")), x)
    assert not np.array_equal(np.asarray(Image.open(out["replace"] / "recon.png")), x)
    assert not np.array_equal(np.asarray(Image.open(out["residual"] / "edit.png")), x)
