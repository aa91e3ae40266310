"""Validate a manifest without running the generator (the library side of ``attgan-batch check``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .data.images import load_rgb
from .defaults import default_checkpoint
from .editor import Editor
from .engines import TorchBackend
from .errors import RowError
from .manifest import ManifestReader, RowFailure
from .model import load_checkpoint
from .model.checkpoint import read_weights
from .pipeline.rows import needs_prediction, plan_edits


@dataclass
class CheckResults:
    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return sum(r["status"] == "valid" for r in self.rows)

    @property
    def invalid(self) -> int:
        return len(self.rows) - self.valid


def check_manifest(manifest: str | Path, checkpoint: str | Path | None = None, *, conflicts: str = "resolve",
                   rules: str = "reference", out_dir: str | Path = "edited", decode: bool = True,
                   classifier: str | Path | None = None, source_from: str = "auto") -> CheckResults:
    """One result per row: ``valid`` with what run would do, or ``invalid`` with the reason."""
    loaded = load_checkpoint(default_checkpoint(checkpoint))
    has_d = isinstance(read_weights(loaded.weights_path).get("D"), dict)
    editor = Editor(loaded, TorchBackend(loaded.generator, "cpu", channels_last=False), conflicts, rules)
    reader = ManifestReader(Path(manifest), loaded.attrs, Path(out_dir))
    results = CheckResults()
    for item in reader:
        if isinstance(item, RowFailure):
            results.rows.append({"line": item.line, "id": item.id, "image": item.image, "status": "invalid",
                                 "details": item.error})
            continue
        try:
            if decode:
                img = load_rgb(item.image)
                details = [f"{img.size[0]}x{img.size[1]}"]
            else:
                if not item.image.is_file():
                    raise RowError(f"image not found: {item.image}")
                details = []
            if needs_prediction(item):
                recon = source_from == "recon" or (source_from == "auto" and not (has_d or classifier))
                if not (has_d or classifier or recon):
                    raise RowError("no source attributes and the checkpoint has no discriminator to predict "
                                   "them; add a 'source' column, or use --source-from recon or --classifier")
                editor.style_vector(item.style)  # a style column on a plain model fails here as in run
                details.append("source will be " + ("inferred by reconstruction" if recon else
                                                    "predicted by the classifier" if classifier else
                                                    "predicted by D's classifier"))
            else:
                plans = plan_edits(editor, item, item.source)
                if len(plans) > 1:
                    details.append(f"grid of {len(plans)} images")
                else:
                    details.append("edits " + ",".join(plans[0].edited) if plans[0].edited else "reconstruction")
                changes = [c for p in plans for c in p.conflict_changes]
                if changes:
                    details.append("conflicts: " + "; ".join(dict.fromkeys(changes)))
            details.append(f"-> {item.output}")
            results.rows.append({"line": item.line, "id": item.id, "image": str(item.image), "status": "valid",
                                 "details": ", ".join(details)})
        except RowError as exc:
            results.rows.append({"line": item.line, "id": item.id, "image": str(item.image), "status": "invalid",
                                 "details": str(exc)})
    results.warnings = reader.warnings + loaded.notes
    return results
