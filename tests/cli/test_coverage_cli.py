"""A branch the plain validation draw never takes. `tune` finds the sub-boxes that reach
it, tunes its operations on stratified inputs and notes each at its line:col; `check`
on the branch alone shows the result holds there. Where no sub-box is found (a while
loop the search does not model) they keep the kernel's precision with a warning,
unless --allow-unsampled."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import RARE_BRANCH, run_cli

BRANCH_SITES = {"6:16", "6:23", "6:28"}
NOTE = re.compile(r"^(?P<file>.+?):(?P<place>\d+:\d+): note: '(\w+)' runs on (?P<share>\S+) "
                  r"of the inputs \(estimated\); tuned to (?P<bits>\d+) bits on (?P<n>\d+) "
                  r"stratified validation inputs .*; (?P<test>\d+) of 3000 test inputs run it$")
WARNING = re.compile(r"^(?P<file>.+?):(?P<place>\d+:\d+): warning: '(\w+)' runs on 0 of "
                     r"(\d+) validation inputs; (?P<what>.+)$")
BITS = re.compile(r"/\* (\d+:\d+) \w+, (\d+) bits \*/")
WHILE_KERNEL = RARE_BRANCH.replace(
    "    double y;\n",
    "    double y;\n    double s = x;\n    while (s > 1.0) {\n        s = s * 0.5;\n    }\n")
WHILE_SITES = {"10:16", "10:23", "10:28"}  # the same branch, four lines further down
P_BRANCH = 1e-6  # P(x < 1e-5) for x uniform on [0, 10]


def narrowed(source: str, target: str) -> str:
    """The kernel on [0, 1e-6], inside the rare branch, with another target."""
    return source.replace("range(x, 0, 10)", "range(x, 0, 1e-6)").replace(
        "rmse(1e-12)", f"rmse({target})")


@pytest.mark.slow
def test_a_rare_branch_is_tuned_on_stratified_inputs(tmp_path: Path) -> None:
    source = tmp_path / "rare.c"
    source.write_text(RARE_BRANCH)
    out = tmp_path / "rare.tuned.c"
    run = run_cli("tune", str(source), "-o", str(out), "--json", "--samples", "3000")
    assert run.returncode == 0, run.stderr
    notes = [NOTE.match(line) for line in run.stderr.splitlines()]
    assert all(notes), run.stderr
    assert {n["place"] for n in notes if n} == BRANCH_SITES
    assert all(n["file"] == str(source) and int(n["n"]) >= 30 and n["test"] == "0"
               for n in notes if n)
    report = json.loads(run.stdout)
    assert report["within_target"]
    executed = {f"{r['line']}:{r['col']}": r["executed"] for r in report["operations"]}
    assert all(0.9 * P_BRANCH < executed[place] < 1.1 * P_BRANCH for place in BRANCH_SITES)
    assert {f"{r['line']}:{r['col']}" for r in report["stratified"]} == BRANCH_SITES
    bits = dict(BITS.findall(out.read_text()))
    assert all(int(bits[place]) < 53 for place in BRANCH_SITES)
    # On the branch alone, the uniform RMSE target τ over [0, 10] allows an RMSE of
    # τ/√P there (P its probability): the tuned file meets it, compiled.
    branch = tmp_path / "branch.c"
    branch.write_text(narrowed(RARE_BRANCH, f"{1e-12 / P_BRANCH**0.5:g}"))
    check = run_cli("check", str(branch), str(out), "--samples", "500")
    assert check.returncode == 0, check.stdout + check.stderr
    # the same output twice for the same seed
    again = tmp_path / "again.tuned.c"
    run_cli("tune", str(source), "-o", str(again), "--samples", "3000")
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("allow", [False, True])
def test_an_unstratified_branch_keeps_double_and_is_named(tmp_path: Path, allow: bool) -> None:
    source = tmp_path / "rare.c"
    source.write_text(WHILE_KERNEL)
    out = tmp_path / "rare.tuned.c"
    run = run_cli("tune", str(source), "-o", str(out), "--json", "--samples", "3000",
                  *(["--allow-unsampled"] if allow else []))
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "branch condition" not in line]
    warnings = [WARNING.match(line) for line in lines]
    assert all(warnings), run.stderr
    assert {w["place"] for w in warnings if w} == WHILE_SITES
    assert all(w["file"] == str(source) for w in warnings if w)
    assert all(("anyway (--allow-unsampled)" in w["what"]) == allow for w in warnings if w)
    report = json.loads(run.stdout)
    assert report["stratified"] == []
    executed = {f"{r['line']}:{r['col']}": r["executed"] for r in report["operations"]}
    assert {place for place, share in executed.items() if share == 0.0} == WHILE_SITES
    bits = dict(BITS.findall(out.read_text()))
    branch_bits = [int(bits[place]) for place in WHILE_SITES]
    assert (min(branch_bits) < 53) if allow else branch_bits == [53, 53, 53]
    # The tuned file on the branch alone: within the target only if the branch kept double.
    branch = tmp_path / "branch.c"
    branch.write_text(narrowed(WHILE_KERNEL, "1e-12"))
    check = run_cli("check", str(branch), str(out), "--samples", "500")
    assert check.returncode == (1 if allow else 0), check.stdout + check.stderr
