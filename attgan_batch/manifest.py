"""Read a CSV manifest as a stream of validated rows (pandas, in chunks: memory stays flat).

One row = one output. Columns (case-insensitive; unknown ones are warned about and ignored):

``image``      path, relative to the manifest's folder or absolute (required)
``edit``       named edit relative to the source, e.g. ``Blond_Hair=1;Young=0`` (see attributes.py)
``target``     a full attribute vector in model order (0/1 or -1/1); exclusive with ``edit``
``source``     the image's current attributes (full vector); predicted by D's classifier when absent
``intensity``  default intensity of the edited attributes (the checkpoint's test_int otherwise)
``style``      style codes for a model trained with --style, e.g. ``Eyeglasses=0.3,-0.8`` (0 = neutral)
``id``         row id for the report (default: ``row<N>``)
``output``     file name under --out (default: ``<id>.<format>``); must stay inside --out

A malformed file (not CSV, not UTF-8, no ``image`` column) raises ManifestError with the line;
a bad row becomes a :class:`RowFailure` and the rest go on.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence


from .attributes import EditSpec, parse_edit, parse_style, parse_vector
from .errors import ManifestError, RowError

KNOWN_COLUMNS = ("image", "edit", "target", "source", "intensity", "style", "id", "output")
OUTPUT_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
_OTHER_IMAGE_SUFFIXES = (".bmp", ".gif", ".tif", ".tiff", ".jp2", ".heic", ".avif")
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ManifestRow:
    """A row that parsed; its image is not decoded yet."""

    line: int
    id: str
    image: Path
    output: str  # relative to --out, already checked to stay inside it
    fmt: str
    edit: EditSpec | None = None
    target: list[int] | None = None
    source: list[int] | None = None
    intensity: float | None = None
    edit_text: str = ""
    style: dict[str, list[float]] | None = None


@dataclass
class RowFailure:
    """A row rejected before any work; ``id``/``image`` are best-effort for the report."""

    line: int
    id: str
    image: str
    error: str
    output: str = ""


@dataclass
class ManifestReader:
    """Iterates a manifest; ``warnings`` collects file-level notes such as unknown columns."""

    path: Path
    attrs: Sequence[str]
    out_dir: Path
    fmt: str = "png"
    chunk_size: int = 512
    scanned: bool = False  # True when the caller already ran scan_manifest on this file
    also_writes: Callable[[str], list[str]] | None = None  # other files a row writes (--grid's sheet)
    base_dir: Path | None = None  # where relative image paths start (--base-dir); default: the manifest's folder
    warnings: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[ManifestRow | RowFailure]:
        seen_ids: dict[str, int] = {}
        seen_outputs: dict[str, int] = {}
        if not self.scanned:
            scan_manifest(self.path)  # fail fast, with a line number, before any row is processed
        for data_row, (line, record) in enumerate(_records(self.path, self.warnings), start=1):
            try:
                _check_cell_sizes(record)
                row = self._parse(record, line, data_row)
            except RowError as exc:
                yield RowFailure(line, default_row_id(_short(record.get("id")), data_row),
                                 _short(record.get("image")), str(exc))
                continue
            files = [row.output, *(self.also_writes(row.output) if self.also_writes else [])]
            clash = next((f for f in files if f.lower() in seen_outputs), None)
            if row.id in seen_ids:
                yield RowFailure(line, row.id, str(row.image),
                                 f"duplicate id {row.id!r} (first used on line {seen_ids[row.id]})", row.output)
            elif clash is not None:
                yield RowFailure(line, row.id, str(row.image),
                                 f"output {clash!r} is also written by line {seen_outputs[clash.lower()]}; "
                                 "give each row its own output", row.output)
            else:
                seen_ids[row.id] = line
                for f in files:
                    seen_outputs[f.lower()] = line
                yield row

    def _parse(self, record: dict, line: int, data_row: int) -> ManifestRow:
        image_text = _cell(record.get("image"))
        if not image_text:
            raise RowError("the image column is empty")
        image = Path(image_text).expanduser()
        if not image.is_absolute():
            base = Path(self.base_dir) if self.base_dir is not None else self.path.parent
            given, image = image, base / image
            if self.base_dir is None and not _exists(image) and _exists(given):
                raise RowError(f"image not found: {image} (image paths are relative to the manifest's folder); "
                               f"{given} exists relative to the current folder: pass --base-dir . to start "
                               "paths there")
        row_id = default_row_id(record.get("id"), data_row)

        edit_text, target_text = _cell(record.get("edit")), _cell(record.get("target"))
        source_text, intensity_text = _cell(record.get("source")), _cell(record.get("intensity"))
        if edit_text and target_text:
            raise RowError("give either edit or target, not both")
        source = parse_vector(source_text, self.attrs, "source") if source_text else None
        target = parse_vector(target_text, self.attrs, "target") if target_text else None
        edit = None if target is not None else parse_edit(edit_text, self.attrs)
        intensity = None
        if intensity_text:
            try:
                intensity = float(intensity_text)
            except ValueError:
                raise RowError(f"intensity {intensity_text!r} is not a number") from None
            if not math.isfinite(intensity) or intensity <= 0:
                raise RowError(f"intensity must be a positive finite number, got {intensity_text!r}")

        style = parse_style(_cell(record.get("style")), self.attrs) or None

        output_text = _cell(record.get("output"))
        if output_text:
            suffix = Path(output_text).suffix.lower()
            fmt = OUTPUT_FORMATS.get(suffix)
            if fmt is None and suffix in _OTHER_IMAGE_SUFFIXES:
                raise RowError(f"output {output_text!r}: {suffix} is not an output format; use .png, .jpg or .webp")
            if fmt is None:
                fmt = self.fmt
                output_text = f"{output_text}.{fmt}"
        else:
            fmt = self.fmt
            output_text = f"{_SAFE_ID.sub('_', row_id).strip('.') or f'row{data_row}'}.{fmt}"
        confined_output(self.out_dir, output_text)
        return ManifestRow(line, row_id, image, output_text, fmt, edit, target, source, intensity,
                           edit_text or (target_text and f"target={target_text}") or "", style)


def confined_output(out_dir: Path, relative: str) -> Path:
    """The absolute output path, or RowError when it would land outside ``out_dir``."""
    if "\x00" in relative:
        raise RowError("output name contains a NUL byte")
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", relative):
        raise RowError(f"output {relative!r} is an absolute path; give a name relative to --out")
    if ".." in re.split(r"[\\/]", relative):
        raise RowError(f"output {relative!r} contains '..'; outputs must stay inside --out")
    try:
        root = out_dir.resolve()
        target = (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic-link loop, a path too long...
        raise RowError(f"output {relative!r} cannot be resolved inside --out: {exc}") from None
    if target != root and root not in target.parents:
        raise RowError(f"output {relative!r} resolves outside --out (through a symlink) to {target}")
    if target == root:
        raise RowError(f"output {relative!r} names the output folder itself")
    return target


def _exists(path: Path) -> bool:
    """Path.exists() that says False for names the OS cannot even look up (too long, NUL bytes)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def default_row_id(value, data_row: int) -> str:
    """A row's id: its ``id`` cell, or ``row<N>`` (N counts data rows from 1) when that is empty."""
    return _cell(value) or f"row{data_row}"


def manifest_row_ids(path: Path) -> Iterator[tuple[int, str]]:
    """(line, id) of every data row, numbered exactly as ManifestReader numbers them (report merge)."""
    for data_row, (line, record) in enumerate(_records(Path(path), []), start=1):
        yield line, default_row_id(_short(record.get("id")), data_row)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


MAX_CELL = 128 * 1024            # a cell above this fails its row (an id or edit of megabytes is a mistake)
_FIELD_LIMIT = 256 * 1024 * 1024  # the csv module's own limit, far above MAX_CELL: the row fails, not the file
_SEPARATORS = (",", ";", "\t")   # Excel writes ';' in many locales, and tab-separated exports are common


def _short(value) -> str:
    """A cell for an error message or a fallback id: trimmed, and cut when it is oversize."""
    text = _cell(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _check_cell_sizes(record: dict[str, str]) -> None:
    for name, value in record.items():
        if len(value) > MAX_CELL:
            raise RowError(f"the {name} cell holds {len(value) / 1024:,.0f} KiB, over the {MAX_CELL // 1024} KiB "
                           "limit of a manifest cell")


def _dialect(path: Path) -> str:
    """The separator: the one that splits the first non-blank line into a header with an image column."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for raw in fh:
            if raw.strip():
                break
        else:
            return ","
    best = max(_SEPARATORS, key=lambda sep: ("image" in [c.strip().strip('"').lower() for c in raw.split(sep)],
                                             raw.count(sep)))
    return best


def _records_raw(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line where it starts, cells) of every non-blank CSV record, the header first."""
    sep = _dialect(path)
    csv.field_size_limit(_FIELD_LIMIT)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=sep, skipinitialspace=True)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ManifestError(f"manifest {path} line {start}: not valid CSV ({exc})") from exc
            if any(cell.strip() for cell in record):
                yield start, record


def _records(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(physical line where the row starts, {column: cell}) for every data row; blank lines and the
    header are skipped, a quoted newline inside a cell keeps the count right."""
    header: list[str] | None = None
    for line, record in _records_raw(path):
        if header is None:
            header = _check_columns(record, path, warnings)
        else:
            yield line, dict(zip(header, record))


def scan_manifest(path: str | Path) -> int:
    """Check the whole file's structure in one streaming pass; return the number of data rows.

    Raises ManifestError naming the line for: a missing or empty file, bytes that are not UTF-8,
    a header without an ``image`` column or with a column twice, a misspelled column, a header but
    no rows, a row with more fields than the header (an unquoted comma).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist or is not a file")
    _check_utf8(path)
    rows = 0
    header_width = None
    for line, record in _records_raw(path):
        if header_width is None:
            header_width = len(record)
            continue
        if len(record) > header_width:
            raise ManifestError(
                f"manifest {path} line {line}: {len(record)} fields but the header has "
                f"{header_width}; quote fields that contain the separator {_dialect(path)!r}, e.g. \"0,1,0,...\""
            )
        rows += 1
    if header_width is None:
        raise ManifestError(f"manifest {path} is empty; it needs a header line with at least an 'image' column")
    list(_records(path, []))  # the header's checks (columns, duplicates, spelling)
    if rows == 0:
        raise ManifestError(f"manifest {path} has a header but no rows")
    return rows


def _check_columns(record: list[str], path: Path, warnings: list[str]) -> list[str]:
    import difflib

    columns = [str(c).strip().lower() for c in record]
    if "image" not in columns:
        raise ManifestError(
            f"manifest {path} line 1: no 'image' column in the header (found: {', '.join(columns) or 'none'}); "
            f"name an image column and optionally {', '.join(KNOWN_COLUMNS[1:])}"
        )
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ManifestError(f"manifest {path} line 1: column(s) {', '.join(dupes)} appear more than once; "
                            "keep one of each")
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    typos = {c: difflib.get_close_matches(c, KNOWN_COLUMNS, n=1, cutoff=0.75) for c in unknown}
    typos = {c: m[0] for c, m in typos.items() if m and m[0] not in columns}
    if typos:
        raise ManifestError(f"manifest {path} line 1: unknown column(s) "
                            + ", ".join(f"{c!r} (did you mean {m!r}?)" for c, m in typos.items())
                            + f"; the columns are {', '.join(KNOWN_COLUMNS)}")
    if unknown:
        warnings.append(f"ignoring unknown column(s) {', '.join(unknown)} (known: {', '.join(KNOWN_COLUMNS)})")
    return columns


def _check_utf8(path: Path) -> None:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ManifestError(
                    f"manifest {path} line {number} is not UTF-8 (byte {raw[exc.start]:#04x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                ) from None
