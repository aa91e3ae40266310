"""CelebA-format text files: the attribute list and the train/val/test partition.

Kept free of torch so the synthetic-set writer (and its worker processes) start fast.
"""
from __future__ import annotations

import difflib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import AttGANBatchError


class DatasetError(AttGANBatchError):
    """A dataset folder or attribute file that cannot be used; the message says what to fix."""


# ----------------------------------------------------------------------------- attribute files

@dataclass
class AttrTable:
    """A parsed attribute file: names, filenames and 0/1 labels (rows x names, uint8)."""

    names: list[str]
    files: list[str]
    labels: np.ndarray

    def columns(self, attrs: Sequence[str]) -> np.ndarray:
        """Labels of ``attrs`` (found by name, case-insensitively) as an (N, len(attrs)) array."""
        return self.labels[:, [column_index(a, self.names) for a in attrs]]


def column_index(name: str, names: Sequence[str]) -> int:
    if name in names:
        return list(names).index(name)
    lowered = [n.lower() for n in names]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    close = difflib.get_close_matches(name, list(names), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DatasetError(f"attribute {name!r} is not in the attribute file{hint}; it has: {', '.join(names)}")


_SPLIT = re.compile(r"[\s,]+")
_INT = re.compile(r"^[+-]?\d+$")


def read_attr_file(path: str | Path) -> AttrTable:
    """Parse a CelebA-format attribute file, tolerating the quirks real copies have.

    Accepted: a missing count line, CRLF endings, a BOM, blank lines, runs of spaces or commas
    (the Kaggle CSV), a header with a leading ``image_id`` column, and 0/1 as well as ±1 labels.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read attribute file {path}: {exc}") from exc
    header, body_start, body_line = _header(text)
    if not header:
        raise DatasetError(f"attribute file {path} is empty")
    count = None
    first = header.replace(",", " ").split()
    if len(first) == 1 and _INT.match(first[0]):
        count = int(first[0])
        header, body_start, body_line = _header(text, body_start, body_line)
    if not header:
        raise DatasetError(f"attribute file {path} has no line of attribute names")
    names = [t for t in _SPLIT.split(header) if t]
    files, labels = _parse_rows(text[body_start:], body_line, names, path)
    if labels.shape[1] == len(names) - 1:  # the header names the filename column too ("image_id")
        names = names[1:]
    if count is not None and count != len(files):
        warnings.warn(f"{path}: the count line says {count} images but {len(files)} are listed", stacklevel=2)
    return AttrTable(names, files, labels)


def _header(text: str, pos: int = 0, line_no: int = 1) -> tuple[str, int, int]:
    """The next meaningful (non-blank, non-comment) line from ``pos`` ('' at the end), where the
    text after it starts, and that position's line number."""
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip()
        pos, line_no = end + 1, line_no + 1
        if line and not line.startswith("#"):
            return line, pos, line_no
    return "", pos, line_no


def _parse_rows(body: str, first_line: int, names: list[str], path: Path) -> tuple[list[str], np.ndarray]:
    """Filenames and 0/1 labels of the data rows. pandas' C parser reads the 200k CelebA rows in
    about a second; anything it cannot take goes through the line-by-line parser, which names the
    bad line. Rows may carry len(names) labels, or len(names) - 1 when a header names the file column."""
    import pandas as pd  # only here: the synthetic-set writer imports this module too

    try:
        frame = pd.read_csv(io.StringIO(body.replace(",", " ")), sep=r"\s+", header=None, dtype={0: str},
                            engine="c", comment="#", skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        return [], np.zeros((0, len(names)), dtype=np.uint8)
    except (pd.errors.ParserError, ValueError):
        frame = None
    if frame is not None and frame.shape[1] - 1 in (len(names), len(names) - 1):
        values = frame.iloc[:, 1:].to_numpy()
        if values.dtype.kind in "iuf" and np.isin(values, (-1, 0, 1)).all():
            return frame[0].tolist(), (values > 0).astype(np.uint8)
    return _parse_rows_slowly(body, first_line, names, path)


def _parse_rows_slowly(body: str, first_line: int, names: list[str], path: Path) -> tuple[list[str], np.ndarray]:
    rows = [(first_line + i, ln.strip()) for i, ln in enumerate(body.splitlines())]
    rows = [(no, ln) for no, ln in rows if ln and not ln.startswith("#")]
    width = len(names)
    if rows and len(rows[0][1].replace(",", " ").split()) == width:  # header named the file column
        width -= 1
    files: list[str] = []
    labels = np.zeros((len(rows), width), dtype=np.uint8)
    for r, (no, line) in enumerate(rows):
        tokens = line.replace(",", " ").split()
        if len(tokens) != width + 1:
            raise DatasetError(
                f"{path}, line {no}: expected a filename and {width} labels, found {len(tokens) - 1} labels"
            )
        try:
            values = [float(t) for t in tokens[1:]]
        except ValueError:
            values = [2.0]
        if any(v not in (-1.0, 0.0, 1.0) for v in values):
            raise DatasetError(f"{path}, line {no}: labels must be -1/1 or 0/1, got {line[:80]!r}")
        files.append(tokens[0])
        labels[r] = [1 if v > 0 else 0 for v in values]
    return files, labels


def write_attr_file(path: str | Path, names: Sequence[str], rows: Iterable[tuple[str, Sequence[int]]]) -> None:
    """Write 0/1 labels as a CelebA attribute file (count line, names, ``file v..`` with ±1)."""
    rows = list(rows)
    out = [str(len(rows)), " ".join(names)]
    for filename, labels in rows:
        out.append(filename + " " + " ".join(f"{1 if v else -1:2d}" for v in labels))
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def read_partition(path: str | Path) -> dict[str, int]:
    """``filename -> 0/1/2`` (train/val/test) from a ``list_eval_partition.txt``."""
    out: dict[str, int] = {}
    for no, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        tokens = [t for t in _SPLIT.split(line.strip()) if t]
        if not tokens or (no == 1 and not _INT.match(tokens[-1])):  # blank line or a CSV header
            continue
        if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
            raise DatasetError(f"{path}, line {no}: expected 'filename 0|1|2', got {line.strip()[:80]!r}")
        out[tokens[0]] = int(tokens[1])
    return out


def write_partition(path: str | Path, rows: Iterable[tuple[str, int]]) -> None:
    Path(path).write_text("".join(f"{f} {s}\n" for f, s in rows), encoding="utf-8")
