"""Attribute vectors, the reference's conflict rules and edit semantics.

Everything here works on plain Python lists so it can be used (and fuzzed) without torch.
The vectors this module builds are exactly those the reference test scripts feed the generator:

* labels are 0/1; the generator sees ``(label*2-1) * thres_int`` for every attribute;
* an edited attribute is rescaled to ``±intensity`` (default: the checkpoint's ``test_int``);
* a slider sets the raw value of one attribute directly (no rescaling, no conflict rules);
* a reconstruction feeds the source vector unchanged.

Edit syntax (manifest ``edit`` column, items separated by ``;``)::

    Blond_Hair=1        set on  (default intensity)      Young=0 / Young=-1   set off
    Male=+1.5           on at intensity 1.5              Male=-0.7            off at intensity 0.7
    Eyeglasses=flip     flip relative to the source      (also written ~Eyeglasses)
    Pale_Skin=flip@0.5  flip at intensity 0.5
    Male:=0.3           slider: raw value 0.3 fed to G
    (empty) or recon    reconstruction                   flip-each            recon + every single flip
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .errors import RowError

HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
RULE_SETS = ("reference", "tensorflow")
CONFLICT_MODES = ("resolve", "error", "ignore")


class ConflictError(RowError):
    """An edit would violate a conflict rule while ``--conflicts error`` is in force."""


# ----------------------------------------------------------------------------- names and vectors

def resolve_name(name: str, names: Sequence[str]) -> int:
    """Index of an attribute name (case-insensitive), or a RowError suggesting the closest."""
    text = re.sub(r"\s+", "_", name.strip())  # "Blond Hair" as spreadsheets write it
    if text in names:
        return list(names).index(text)
    lowered = {n.lower(): i for i, n in enumerate(names)}
    if text.lower() in lowered:
        return lowered[text.lower()]
    close = difflib.get_close_matches(text, list(names), n=1, cutoff=0.5) or difflib.get_close_matches(
        text.lower(), list(lowered), n=1, cutoff=0.5)
    hint = f"; did you mean {names[lowered.get(close[0], 0)] if close[0] in lowered else close[0]!r}?" if close else ""
    raise RowError(f"unknown attribute {text!r}{hint} (this checkpoint knows: {', '.join(names)})")


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


_WORDS = {"yes": 1.0, "true": 1.0, "on": 1.0, "no": 0.0, "false": 0.0, "off": 0.0}


def _number(text: str, what: str) -> float:
    text = text.strip()
    if text.lower() in _WORDS:  # yes/no, true/false, on/off as spreadsheets export booleans
        return _WORDS[text.lower()]
    if not _NUMBER.match(text):
        raise RowError(f"{what}: {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise RowError(f"{what}: {text!r} is not a finite number")
    return value


def parse_vector(text: str, names: Sequence[str], what: str = "vector") -> list[int]:
    """A full attribute vector as 0/1 labels from ``"1,0,..."`` (0/1), CelebA-style ``"-1 1 ..."``,
    the names of the attributes that are on (``"Male;Young;Black_Hair"``, every other one off) or
    ``name=value`` pairs (``"Male=1;Young=0"``, unnamed ones off)."""
    if not isinstance(text, str) or not text.strip():
        raise RowError(f"{what} is empty")
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if all(_is_name(p) for p in parts):  # names only; a stray word among numbers is a bad number
        return _named_vector(parts, names, what)
    if len(parts) != len(names):
        raise RowError(
            f"{what} has {len(parts)} values but the checkpoint has {len(names)} attributes "
            f"(in order: {', '.join(names)})"
        )
    values = [_number(p, what) for p in parts]
    bad = [v for v in values if v not in (-1.0, 0.0, 1.0)]
    if bad:
        raise RowError(f"{what} holds {bad[0]:g}; use 0/1 or CelebA-style -1/1 labels")
    if -1.0 in values:
        if 0.0 in values:
            raise RowError(f"{what} mixes -1 and 0; use either 0/1 or -1/1 labels")
        return [1 if v > 0 else 0 for v in values]
    return [int(v) for v in values]


_NUMBER_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


def _is_name(token: str) -> bool:
    """An attribute name (or ``name=value``), not a number such as ``1``, ``-1`` or ``inf``."""
    head = token.partition("=")[0].strip()
    return bool(re.match(r"^[A-Za-z_]", head)) and head.lower() not in _NUMBER_WORDS and head.lower() not in _WORDS


def _named_vector(parts: list[str], names: Sequence[str], what: str) -> list[int]:
    import difflib

    index = {n.lower(): i for i, n in enumerate(names)}
    labels = [0] * len(names)
    for part in parts:
        name, sep, value = part.partition("=")
        i = index.get(name.strip().lower())
        if i is None:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the model's attributes: {', '.join(names)}"
            raise RowError(f"{what}: unknown attribute {name!r}{hint}")
        if sep:
            v = _number(value, what)
            if v not in (-1.0, 0.0, 1.0):
                raise RowError(f"{what}: {name}={value}; use 0/1 or -1/1")
            labels[i] = 1 if v > 0 else 0
        else:
            labels[i] = 1
    return labels


def format_vector(values: Iterable[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


# ----------------------------------------------------------------------------- conflict rules

def apply_conflicts(labels: list[int], attr: str, names: Sequence[str], rules: str = "reference") -> list[str]:
    """Apply the reference ``check_attribute_conflict`` for ``attr`` in place; return the changes.

    Rules fire only when ``attr`` is now on. ``rules='tensorflow'`` drops the Mustache/No_Beard rule,
    as the official TensorFlow implementation does.
    """
    if rules not in RULE_SETS:
        raise ValueError(f"unknown rule set {rules!r}; expected one of {RULE_SETS}")
    index = {n: i for i, n in enumerate(names)}
    if labels[index[attr]] == 0:
        return []

    if attr in ("Bald", "Receding_Hairline"):
        turn_off = ["Bangs"]
    elif attr == "Bangs":
        turn_off = ["Bald", "Receding_Hairline"]
    elif attr in HAIR_COLOURS:
        turn_off = [n for n in HAIR_COLOURS if n != attr]
    elif attr in ("Straight_Hair", "Wavy_Hair"):
        turn_off = [n for n in ("Straight_Hair", "Wavy_Hair") if n != attr]
    elif attr in ("Mustache", "No_Beard") and rules == "reference":
        turn_off = [n for n in ("Mustache", "No_Beard") if n != attr]
    else:
        turn_off = []
    changes = []
    for other in turn_off:
        if other in index and labels[index[other]] != 0:
            labels[index[other]] = 0
            changes.append(f"{other} 1->0 ({attr} on)")
    return changes


# ----------------------------------------------------------------------------- edits

@dataclass(frozen=True)
class AttributeEdit:
    """One named change: ``set`` a label, ``flip`` it, or ``slide`` its raw value."""

    name: str
    kind: str  # "set" | "flip" | "slide"
    value: float = 0.0  # label for set, raw value for slide
    intensity: float | None = None  # None: the row's or checkpoint's default


@dataclass(frozen=True)
class EditSpec:
    edits: tuple[AttributeEdit, ...] = ()
    flip_each: bool = False

    @property
    def is_reconstruction(self) -> bool:
        return not self.edits and not self.flip_each


def parse_edit(text: str | None, names: Sequence[str]) -> EditSpec:
    """Parse the manifest's ``edit`` column (see the module docstring for the syntax)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return EditSpec()
    if not isinstance(text, str):
        raise RowError(f"edit must be text, got {text!r}")
    stripped = text.strip()
    if stripped.lower() in ("", "recon", "reconstruct", "reconstruction", "none"):
        return EditSpec()
    if stripped.lower() == "flip-each":
        return EditSpec(flip_each=True)
    edits: list[AttributeEdit] = []
    seen: set[str] = set()
    for item in (p.strip() for p in stripped.split(";")):
        if not item:
            continue
        edit = _parse_item(item, names)
        if edit.name in seen:
            raise RowError(f"edit names {edit.name} twice")
        seen.add(edit.name)
        edits.append(edit)
    if not edits:
        return EditSpec()
    return EditSpec(tuple(edits))


def _parse_item(item: str, names: Sequence[str]) -> AttributeEdit:
    if item.startswith("~"):
        return AttributeEdit(names[resolve_name(item[1:], names)], "flip")
    if ":=" in item:
        name, raw = item.split(":=", 1)
        return AttributeEdit(names[resolve_name(name, names)], "slide", _number(raw, f"slider {name.strip()}"))
    if "=" not in item:
        raise RowError(
            f"cannot read edit item {item!r}: write NAME=1, NAME=0, NAME=+1.5, NAME=flip or NAME:=0.3"
        )
    name, raw = (s.strip() for s in item.split("=", 1))
    canonical = names[resolve_name(name, names)]
    if raw.lower() == "flip":
        return AttributeEdit(canonical, "flip")
    if raw.lower().startswith("flip@"):
        intensity = _number(raw[5:], f"edit {canonical}")
        if intensity <= 0:
            raise RowError(f"edit {canonical}={raw}: the intensity after flip@ must be positive")
        return AttributeEdit(canonical, "flip", intensity=intensity)
    if "," in raw and "=" in raw:  # "Blond_Hair=1,Eyeglasses=1": items are separated by ';'
        raise RowError(f"edit {item!r}: separate edit items with ';' (e.g. {item.replace(',', ';')!r})")
    value = _number(raw, f"edit {canonical}")
    if not raw.startswith("+") and value in (0.0, 1.0, -1.0):
        return AttributeEdit(canonical, "set", 1.0 if value == 1.0 else 0.0)
    if value == 0.0:
        raise RowError(f"edit {canonical}={raw}: an intensity must be non-zero (use NAME:=0 for a slider at 0)")
    return AttributeEdit(canonical, "set", 1.0 if value > 0 else 0.0, abs(value))


@dataclass
class EditPlan:
    """What one output feeds the generator, and why."""

    label: str
    source: list[int] | None
    target: list[int]
    scaled: list[float]
    edited: list[str] = field(default_factory=list)
    conflict_changes: list[str] = field(default_factory=list)
    style: list[float] | None = None  # style codes for a style model (None: neutral / no style)


def _scale(labels: Sequence[int], thres_int: float) -> list[float]:
    return [(v * 2 - 1) * thres_int for v in labels]


def _conflicts(labels: list[int], attr: str, names: Sequence[str], conflicts: str, rules: str) -> list[str]:
    if conflicts == "ignore":
        return []
    changes = apply_conflicts(labels, attr, names, rules)
    if changes and conflicts == "error":
        raise ConflictError(
            "edit conflicts with the attribute rules: " + "; ".join(changes)
            + " (use --conflicts resolve to apply these changes, or ignore to keep the vector as given)"
        )
    return changes


def plan_edit(
    source: Sequence[int], spec: EditSpec, names: Sequence[str], *, thres_int: float = 0.5,
    test_int: float = 1.0, conflicts: str = "resolve", rules: str = "reference", label: str = "",
) -> EditPlan:
    """The scaled vector for a named edit of ``source`` (flip/set/slide; conflict rules after each)."""
    if conflicts not in CONFLICT_MODES:
        raise ValueError(f"unknown conflict mode {conflicts!r}; expected one of {CONFLICT_MODES}")
    index = {n: i for i, n in enumerate(names)}
    target = list(source)
    changes: list[str] = []
    for edit in spec.edits:
        if edit.kind == "slide":
            continue
        i = index[edit.name]
        target[i] = 1 - target[i] if edit.kind == "flip" else int(edit.value)
        changes += _conflicts(target, edit.name, names, conflicts, rules)
    scaled = _scale(target, thres_int)
    for edit in spec.edits:
        i = index[edit.name]
        if edit.kind == "slide":
            scaled[i] = edit.value
        else:
            scaled[i] = scaled[i] * (edit.intensity if edit.intensity is not None else test_int) / thres_int
    return EditPlan(label or describe(spec), list(source), target, scaled, [e.name for e in spec.edits], changes)


def plan_target(
    source: Sequence[int] | None, target: Sequence[int], names: Sequence[str], *, thres_int: float = 0.5,
    test_int: float = 1.0, conflicts: str = "resolve", rules: str = "reference", label: str = "target",
) -> EditPlan:
    """The scaled vector for a full target vector; attributes differing from ``source`` are edited."""
    labels = list(target)
    edited = [n for i, n in enumerate(names) if source is None or source[i] != labels[i]]
    changes: list[str] = []
    for name in edited:
        changes += _conflicts(labels, name, names, conflicts, rules)
    scaled = _scale(labels, thres_int)
    for name in edited:
        i = names.index(name)
        scaled[i] = scaled[i] * test_int / thres_int
    return EditPlan(label, list(source) if source is not None else None, labels, scaled, edited, changes)


def plan_flip_each(
    source: Sequence[int], names: Sequence[str], *, thres_int: float = 0.5, test_int: float = 1.0,
    conflicts: str = "resolve", rules: str = "reference",
) -> list[EditPlan]:
    """The reference test script's figure: reconstruction, then every single flip."""
    plans = [plan_edit(source, EditSpec(), names, thres_int=thres_int, label="recon")]
    for name in names:
        spec = EditSpec((AttributeEdit(name, "flip"),))
        plans.append(plan_edit(source, spec, names, thres_int=thres_int, test_int=test_int,
                               conflicts=conflicts, rules=rules, label=name))
    return plans


def describe(spec: EditSpec) -> str:
    if spec.flip_each:
        return "flip-each"
    if spec.is_reconstruction:
        return "recon"
    parts = []
    for e in spec.edits:
        if e.kind == "flip":
            parts.append(f"{e.name}=flip" + (f"@{e.intensity:g}" if e.intensity is not None else ""))
        elif e.kind == "slide":
            parts.append(f"{e.name}:={e.value:g}")
        elif e.intensity is not None:
            parts.append(f"{e.name}={'+' if e.value else '-'}{e.intensity:g}")
        else:
            parts.append(f"{e.name}={int(e.value)}")
    return ";".join(parts)


def parse_style(text: str | None, attrs: Sequence[str]) -> dict[str, list[float]]:
    """A manifest ``style`` cell, ``Eyeglasses=0.3,-0.8;Male=1``, as {attribute: codes}.

    Only the syntax and the names are checked here; whether the model has those style controllers
    (and how many codes each) is checked against the checkpoint when the row is planned.
    """
    out: dict[str, list[float]] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise RowError(f"style {part!r}: write ATTRIBUTE=v1[,v2...], e.g. Eyeglasses=0.3,-0.8")
        if name not in attrs:
            hint = difflib.get_close_matches(name, list(attrs), n=1)
            raise RowError(f"style: unknown attribute {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        try:
            codes = [float(v) for v in values.split(",")]
        except ValueError:
            raise RowError(f"style {part!r}: codes must be numbers (the model was trained on -1..1)") from None
        if not all(math.isfinite(v) for v in codes):
            raise RowError(f"style {part!r}: codes must be finite numbers")
        if name in out:
            raise RowError(f"style: {name} is given twice")
        out[name] = codes
    return out
