"""A branch the validation sample never takes: `tune` keeps its operations at the
kernel's precision and warns at each one's line:col, unless --allow-unsampled; `check`
on the branch alone shows what that buys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import RARE_BRANCH, run_cli

KERNEL = RARE_BRANCH
BRANCH_SITES = {"6:16", "6:23", "6:28"}
WARNING = re.compile(r"^(?P<file>.+?):(?P<place>\d+:\d+): warning: '(\w+)' runs on 0 of "
                     r"(\d+) validation inputs; (?P<what>.+)$")
BITS = re.compile(r"/\* (\d+:\d+) \w+, (\d+) bits \*/")


@pytest.mark.slow
@pytest.mark.parametrize("allow", [False, True])
def test_an_unsampled_branch_keeps_double_and_is_named(tmp_path: Path, allow: bool) -> None:
    source = tmp_path / "rare.c"
    source.write_text(KERNEL)
    out = tmp_path / "rare.tuned.c"
    run = run_cli("tune", str(source), "-o", str(out), "--json", "--samples", "3000",
                  *(["--allow-unsampled"] if allow else []))
    assert run.returncode == 0, run.stderr
    warnings = [WARNING.match(line) for line in run.stderr.splitlines()]
    assert all(warnings), run.stderr
    assert {w["place"] for w in warnings if w} == BRANCH_SITES
    assert all(w["file"] == str(source) for w in warnings if w)
    assert all(("anyway (--allow-unsampled)" in w["what"]) == allow for w in warnings if w)
    report = json.loads(run.stdout)
    executed = {f"{r['line']}:{r['col']}": r["executed"] for r in report["operations"]}
    assert {place for place, share in executed.items() if share == 0.0} == BRANCH_SITES
    assert all(share == 1.0 for place, share in executed.items() if place not in BRANCH_SITES)
    bits = dict(BITS.findall(out.read_text()))
    branch_bits = [int(bits[place]) for place in BRANCH_SITES]
    assert (min(branch_bits) < 53) if allow else branch_bits == [53, 53, 53]
    # The tuned file on the branch alone: within the target only if the branch kept double.
    branch = tmp_path / "branch.c"
    branch.write_text(KERNEL.replace("range(x, 0, 10)", "range(x, 0, 1e-6)"))
    check = run_cli("check", str(branch), str(out), "--samples", "500")
    assert check.returncode == (1 if allow else 0), check.stdout + check.stderr
