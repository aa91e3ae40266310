"""Edit semantics build exactly the vectors the reference feeds G; conflict rules as the reference."""
from __future__ import annotations

import pytest
import torch

from attgan_batch.attributes import (
    AttributeEdit, ConflictError, EditSpec, apply_conflicts, parse_edit, parse_vector, plan_edit,
    plan_flip_each, plan_target,
)
from attgan_batch.errors import RowError
from attgan_batch.model import DEFAULT_ATTRS as NAMES


def _edit_for_case(case: str) -> EditSpec:
    """The manifest edit string a user would write for each fixture case."""
    kind, _, rest = case.partition(":")
    if kind == "recon":
        return parse_edit("", NAMES)
    if kind == "single":
        name, intensity = rest.split("@")
        return parse_edit(f"{name}=flip@{intensity}", NAMES)
    if kind == "multi":
        names, intensities = rest.split("@")
        return parse_edit(";".join(f"{n}=flip@{i}" for n, i in zip(names.split("+"), intensities.split(","))), NAMES)
    if kind == "slide":
        name, value = rest.split("=")
        return parse_edit(f"{name}:={value}", NAMES)
    raise AssertionError(case)


def test_every_fixture_case_builds_the_reference_vector(reference_vectors):
    d = reference_vectors
    assert d["settings"]["attrs"] == NAMES
    for k, case in enumerate(d["case_names"]):
        spec = _edit_for_case(case)
        for i in range(d["att_a"].shape[0]):
            source = [int(v) for v in d["att_a"][i].tolist()]
            plan = plan_edit(source, spec, NAMES, thres_int=0.5, test_int=1.0)
            assert torch.equal(torch.tensor(plan.scaled, dtype=torch.float32), d["att_b_"][k][i]), (case, i)


def test_flip_each_is_recon_plus_every_single_flip(reference_vectors):
    d = reference_vectors
    source = [int(v) for v in d["att_a"][2].tolist()]
    plans = plan_flip_each(source, NAMES)
    assert [p.label for p in plans] == ["recon", *NAMES]
    for k, plan in enumerate(plans):
        assert torch.equal(torch.tensor(plan.scaled, dtype=torch.float32), d["att_b_"][k][2])


def test_conflict_rules_reference_and_tensorflow():
    labels = [0] * 13
    labels[NAMES.index("No_Beard")] = 1
    labels[NAMES.index("Mustache")] = 1
    tf = list(labels)
    assert apply_conflicts(labels, "Mustache", NAMES) == ["No_Beard 1->0 (Mustache on)"]
    assert apply_conflicts(tf, "Mustache", NAMES, rules="tensorflow") == []
    hair = [0] * 13
    for n in ("Black_Hair", "Brown_Hair", "Blond_Hair"):
        hair[NAMES.index(n)] = 1
    changes = apply_conflicts(hair, "Blond_Hair", NAMES)
    assert hair[NAMES.index("Black_Hair")] == hair[NAMES.index("Brown_Hair")] == 0 and len(changes) == 2
    bangs = [0] * 13
    bangs[NAMES.index("Bangs")] = bangs[NAMES.index("Bald")] = 1
    assert apply_conflicts(bangs, "Bangs", NAMES) == ["Bald 1->0 (Bangs on)"]
    off = [0] * 13
    assert apply_conflicts(off, "Bald", NAMES) == []  # rules fire only when the attribute is now on


def test_conflict_modes():
    source = [0] * 13
    source[NAMES.index("Black_Hair")] = 1
    spec = parse_edit("Blond_Hair=1", NAMES)
    resolved = plan_edit(source, spec, NAMES)
    assert resolved.target[NAMES.index("Black_Hair")] == 0 and resolved.conflict_changes
    assert resolved.scaled[NAMES.index("Black_Hair")] == -0.5  # changed by a rule: ±thres_int
    with pytest.raises(ConflictError, match="Black_Hair"):
        plan_edit(source, spec, NAMES, conflicts="error")
    ignored = plan_edit(source, spec, NAMES, conflicts="ignore")
    assert ignored.target[NAMES.index("Black_Hair")] == 1 and not ignored.conflict_changes


def test_edit_syntax_and_intensities():
    source = [0] * 13
    plan = plan_edit(source, parse_edit("Male=+1.5; Young=1", NAMES), NAMES, test_int=1.0)
    assert plan.scaled[NAMES.index("Male")] == 1.5 and plan.scaled[NAMES.index("Young")] == 1.0
    plan = plan_edit(source, parse_edit("Male=-0.7", NAMES), NAMES)
    assert plan.scaled[NAMES.index("Male")] == pytest.approx(-0.7)
    plan = plan_edit(source, parse_edit("~eyeglasses", NAMES), NAMES, test_int=2.0)  # case-insensitive
    assert plan.scaled[NAMES.index("Eyeglasses")] == 2.0
    plan = plan_edit(source, parse_edit("Male:=0.3", NAMES), NAMES)
    assert plan.scaled[NAMES.index("Male")] == 0.3 and plan.target == source
    assert parse_edit("recon", NAMES).is_reconstruction and parse_edit("flip-each", NAMES).flip_each


def test_target_vector_marks_differences_as_edited():
    source = parse_vector("0,1,0,0,0,0,0,1,0,0,1,0,1", NAMES)
    target = parse_vector("-1 1 -1 1 -1 -1 -1 1 -1 -1 1 -1 1", NAMES)  # CelebA style
    plan = plan_target(source, target, NAMES, test_int=1.0)
    assert plan.edited == ["Blond_Hair"] and plan.scaled[NAMES.index("Blond_Hair")] == 1.0
    assert plan.scaled[NAMES.index("Male")] == 0.5
    assert plan_target(None, target, NAMES).edited == NAMES


@pytest.mark.parametrize("text,message", [
    ("Blnd_Hair=1", "did you mean 'Blond_Hair'"),
    ("Male=abc", "not a number"),
    ("Male=nan", "not a number"),
    ("Male", "cannot read edit item"),
    ("Male=1;Male=0", "twice"),
    ("Male=+0", "non-zero"),
])
def test_bad_edits_are_row_errors(text, message):
    with pytest.raises(RowError, match=message):
        parse_edit(text, NAMES)


@pytest.mark.parametrize("text,message", [
    ("1,0", "has 2 values"), ("0,1,0,0,0,0,0,1,0,0,1,0,2", "0/1"), ("-1,0,1,1,1,1,1,1,1,1,1,1,1", "mixes"),
    ("0,1,0,0,0,0,0,1,0,0,1,0,inf", "not a number"),
])
def test_bad_vectors_are_row_errors(text, message):
    with pytest.raises(RowError, match=message):
        parse_vector(text, NAMES)


def test_attribute_edit_is_hashable_value():
    assert AttributeEdit("Male", "flip") == AttributeEdit("Male", "flip")
