"""Run precisec over every FPCore of the FPBench corpus and write docs/fpbench.md.

    python benchmarks/fpbench_corpus.py [--corpus ../shared/fpbench] [--out docs/fpbench.md]
                                        [--jobs 2 | --scheduler ADDRESS]
                                        [--samples N] [--seed S] [--time-limit S]

For every FPCore of every *.fpcore file (files sorted, FPCores in file order):

* unsupported by the FPCore frontend: the located reason (file:line:col) is recorded;
* supported: the FPCore's natural target is chosen (`natural_target`): its own
  `:precisec-*` property if it has one; else an RMSE 8× the baseline's (8 × 2^-p × RMS
  of the exact output when that is 0); else, when the absolute error gives no finite,
  nonzero scale (an argument with no finite range, an exact result that is not finite
  somewhere on the domain, a baseline RMSE that is not finite, or exact results that
  are all 0), Herbie's bits of error, 3 bits (a factor 8) above the baseline's. The
  baseline emulates every rounding operation at the kernel's own precision (53 bits for
  binary64, 24 for binary32) on the validation sample against the exact reference. The
  kernel then goes through `precisec.flow.run`, the one flow of `precisec tune`: tune,
  emit the MPFR C, compile and run it on a fresh test sample, compare the measured error
  with the target.

An FPCore that takes longer than `--time-limit` seconds (baseline, tuning and
verification) is stopped there and recorded as over the time limit, with the seconds it
ran (the limit is a SIGALRM in the process that tunes it, so it holds for local jobs; Dask
workers run jobs in threads, where no limit is set).
A `PrecisecError` during tuning (a non-finite result on the domain, an unreachable
target, ...) is recorded as a refusal with its located message, never a traceback; any
other exception is an internal error row, and the script exits 3.
Everything is deterministic except the timings: files are sorted and the seeds fixed.
The FPCores run through `precisec.batch`: `--jobs N` local processes, or the Dask cluster
whose scheduler is at `--scheduler ADDRESS` (docs/scale.md); the report is the same
either way. Progress is a bar on stderr, only on a terminal.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from precisec import batch
from precisec.cli import positive_int, seed_value
from precisec.files import write_atomically

if TYPE_CHECKING:
    from precisec.ir import Kernel
    from precisec.tune.metrics import Target

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "fpbench"
DEFAULT_OUT = REPO / "docs" / "fpbench.md"
DEFAULT_SAMPLES = 10_000
DEFAULT_TIME_LIMIT = 600.0
TARGET_FACTOR = 8.0
BITS_MARGIN = math.log2(TARGET_FACTOR)
"""Bits of error a bits target allows above the baseline's: the same factor 8."""


@dataclass(frozen=True)
class Result:
    """One FPCore of the corpus: tuned and verified, or refused with a located reason."""

    file: str
    index: int
    name: str
    supported: bool
    operations: int | None = None
    double_error: float | None = None
    target: float | None = None
    zero_double: bool = False
    error: float | None = None
    max_error: float | None = None
    mean_bits: float | None = None
    optimum_mean_bits: float | None = None
    seconds: float | None = None
    reason: str | None = None
    where: str | None = None
    stage: str | None = None
    """Where a refusal happened: "frontend" (unsupported), "tuning", "time limit" or
    "internal" (a bug)."""
    metric: str = "rmse"
    """What `double_error`, `target`, `error` and `max_error` measure (rmse or bits)."""
    acceptance: float = 1.0

    @property
    def tuned(self) -> bool:
        return self.error is not None

    @property
    def within_target(self) -> bool:
        return self.tuned and self.target is not None and self.error <= self.target


def display_path(path: Path) -> str:
    """The file as reported: relative to the repository when it is in or beside it."""
    try:
        relative = os.path.relpath(path, REPO)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


def revision() -> str | None:
    """The repository's commit, marked when the working tree has local changes."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "precisec"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit} with local changes to precisec/" if dirty else commit


def natural_target(text: str, file: str, index: int, samples: int,
                   seed: int) -> tuple[Kernel, Target, float, bool]:
    """FPCore number `index` of `text` (the file `file`) as a kernel, its natural target
    (the module docstring), the baseline's error in the target's metric on the validation
    sample (the one `flow.run` draws), and whether the zero-baseline rule set the
    target."""
    import numpy as np

    from precisec.errors import PrecisecError
    from precisec.frontend.fpcore import parse_fpcore
    from precisec.semantics.compiled import Evaluator
    from precisec.tune.metrics import Target
    from precisec.tune.samples import Sample, unbounded, validation_seed
    from precisec.tune.tuner import uniform

    kernel = parse_fpcore(text, file, index=index)
    given = None if kernel.target_rmse is None else Target(kernel.target_metric,
                                                           kernel.target_rmse)
    with Evaluator(kernel) as evaluator:

        def baseline_error(metric: str) -> tuple[Sample, float]:
            validation = Sample.draw(evaluator, samples, validation_seed(seed), metric=metric)
            baseline = evaluator.emulate(uniform(kernel, kernel.baseline_bits),
                                         validation.inputs)
            return validation, validation.measure(baseline.outputs).value

        if given is not None:
            return kernel, given, baseline_error(given.metric)[1], False
        if not np.any(unbounded(kernel)):
            try:
                validation, double_error = baseline_error("rmse")
            except PrecisecError:  # an exact result that is not finite on the domain
                validation, double_error = None, math.inf
            if 0 < double_error < math.inf:
                return kernel, Target("rmse", TARGET_FACTOR * double_error), double_error, \
                    False
            if validation is not None and double_error == 0:
                exact = validation.reference.hi + validation.reference.lo
                exact_rms = float(np.sqrt(np.mean(exact**2)))
                if 0 < exact_rms < math.inf:
                    return kernel, Target("rmse", TARGET_FACTOR * 2.0**-kernel.baseline_bits
                                          * exact_rms), double_error, True
        double_error = baseline_error("bits")[1]
    return kernel, Target("bits", double_error + BITS_MARGIN), double_error, False


class TimeLimit(Exception):
    """Raised by SIGALRM in the process tuning an FPCore when its time is up; it unwinds
    through the toolchain, which kills the programs it started."""


def _alarm(signum: int, frame: object) -> None:
    raise TimeLimit


def tune_entry(file: str, text: str, index: int, name: str, samples: int,
               seed: int, limit: float | None = None) -> Result:
    """`tune_fpcore`, stopped after `limit` seconds (None: no limit) where a signal can
    stop it (the main thread of a process); then a row over the time limit."""
    started = time.perf_counter()
    if limit is None or threading.current_thread() is not threading.main_thread():
        return tune_fpcore(file, text, index, name, samples, seed)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return tune_fpcore(file, text, index, name, samples, seed)
    except TimeLimit:
        return Result(file, index, name, True, reason=f"over the time limit of {limit:g} s",
                      stage="time limit", seconds=time.perf_counter() - started)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def tune_fpcore(file: str, text: str, index: int, name: str, samples: int,
                seed: int) -> Result:
    """Tune FPCore number `index` of `text` (the file `file`) at its natural target
    through `flow.run` (which verifies the compiled C on the test sample). The job carries
    the text, so a cluster's workers need not see the corpus."""
    from precisec import flow
    from precisec.errors import PrecisecError

    started = time.perf_counter()
    operations: int | None = None
    double_error: float | None = None
    target: Target | None = None
    zero_double = False
    try:
        kernel, target, double_error, zero_double = natural_target(text, file, index,
                                                                   samples, seed)
        operations = len(kernel.sites)
        result = flow.run(kernel, target, file, flow.Options(seed=seed, samples=samples))
    except (PrecisecError, RuntimeError) as err:
        located = isinstance(err, PrecisecError)
        return Result(file, index, name, True, operations, double_error,
                      None if target is None else target.value, zero_double,
                      reason=err.message if located else str(err),
                      where=str(err.loc) if located else None, stage="tuning",
                      seconds=time.perf_counter() - started,
                      metric="rmse" if target is None else target.metric)
    assert result.tuning is not None
    measured = result.verification.measurement
    return Result(file, index, name, True, operations, result.analysis.baseline.value,
                  target.value, zero_double, measured.value, measured.max_error,
                  result.tuning.mean_bits, result.analysis.optimum_mean_bits,
                  time.perf_counter() - started, metric=target.metric,
                  acceptance=result.acceptance)


# -- refusal reasons, grouped ------------------------------------------------------------------

_GROUPING = (
    (re.compile(r"argument `[^`]*`"), "argument `…`"),
    (re.compile(r"`\([^`]*\)` in :pre"), "`(…)` in :pre"),
    (re.compile(r"\(<= LO \S+ HI\)"), "(<= LO x HI)"),
    (re.compile(r"`while\*?` loops"), "`while` / `while*` loops"),
    (re.compile(r"target RMSE \S+"), "target RMSE τ"),
    (re.compile(r" \([^()]*\) on the input domain"), " on the input domain"),
    (re.compile(r"^'[^']*' has"), "an operation has"),
)


def reason_kind(reason: str) -> str:
    """A refusal reason without its particulars (names, values, where), for counting."""
    kind = re.split(r"; |, at |: even ", reason, maxsplit=1)[0]
    for pattern, replacement in _GROUPING:
        kind = pattern.sub(replacement, kind)
    return kind


# -- the report ---------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _number(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _status(r: Result) -> str:
    if r.reason is None:
        return "supported"
    where = f"{r.where}: " if r.where else ""
    prefix = {"frontend": "unsupported", "internal": "internal error",
              "time limit": "stopped"}.get(
        r.stage or "", "refused while tuning")
    return f"{prefix}: {where}{r.reason}"


def _within(r: Result) -> str:
    if not r.tuned:
        return "—"
    return "yes" if r.within_target else "**no**"


def summary(results: list[Result]) -> dict:
    refusals = Counter(reason_kind(r.reason) for r in results if r.reason is not None)
    tuned = [r for r in results if r.tuned]
    return {
        "fpcores": len(results),
        "files": len({r.file for r in results}),
        "supported": sum(r.supported for r in results),
        "tuned": len(tuned),
        "refused_while_tuning": sum(r.stage == "tuning" for r in results),
        "over_limit": sum(r.stage == "time limit" for r in results),
        "within_target": sum(r.within_target for r in results),
        "zero_double": sum(r.zero_double for r in tuned),
        "metrics": Counter(r.metric for r in tuned),
        "mean_bits": sum(r.mean_bits or 0.0 for r in tuned) / len(tuned) if tuned else None,
        "refusals": sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0])),
    }


def markdown(results: list[Result], corpus: str, seed: int, samples: int,
             elapsed: float, commit: str | None = None,
             limit: float | None = DEFAULT_TIME_LIMIT) -> str:
    s = summary(results)
    at = f", precisec at {commit}" if commit else ""
    lines = [
        "# precisec on the FPBench corpus",
        "",
        f"Generated by `python benchmarks/fpbench_corpus.py` (seed {seed}, {samples} inputs "
        f"per sample{at}) over every FPCore of every `*.fpcore` file in `{corpus}`. "
        "Each FPCore goes through the FPCore frontend; an unsupported one is listed with the "
        "located reason the frontend gives (`file:line:col`). A supported one goes through "
        "`precisec.flow.run`, the same flow as `precisec tune`:",
        "",
        "1. **Sample.** Inputs are uniform in each finite range; an argument with no finite "
        "range (on one side or both) is sampled as Herbie does, uniformly over the finite "
        "floating-point values of its type within its bounds. A `:pre` that is more than "
        "bounds is met by rejection sampling, evaluated soundly in ball arithmetic; under a "
        "bits target, points whose exact result is not finite are rejected too "
        "(docs/method.md §6). *Kept* is the share of drawn points kept, where below 100%.",
        "2. **Baseline.** Every rounding operation is emulated at the FPCore's own precision "
        "(53 bits for binary64, 24 for binary32, IEEE correctly rounded) on the validation "
        "sample and compared with the exact reference; this is the *double error*, in the "
        "row's metric.",
        "3. **Target (the natural one).** The FPCore's own `:precisec-*` property if it has "
        f"one. Otherwise an *RMSE* {TARGET_FACTOR:g} × "
        "the double RMSE: a budget a little looser than double, so the tuner has room to "
        "lower precisions. When the double RMSE is 0 (every operation exact in double on "
        f"the sample), the target is {TARGET_FACTOR:g} × 2^-53 (2^-24 for binary32) × the "
        "RMS of the exact output instead; such rows are marked †. When the absolute error "
        "has no finite, nonzero scale (an unbounded argument, an exact result that is not "
        "finite somewhere on the domain, a double RMSE that is not finite, or an exact "
        f"output that is 0 everywhere): Herbie's *bits* of error (mean "
        f"log2(1 + ulp distance), docs/method.md §10), {BITS_MARGIN:g} bits above the "
        f"baseline's (the factor {TARGET_FACTOR:g}).",
        "4. **Tune** (noise model by SGD, mapping to bits, refinement against exact "
        "emulation on the same validation sample, in the target's metric) and emit the "
        "MPFR C.",
        "5. **Verify.** The C is compiled with gcc and MPFR and run on a fresh test sample "
        "(its own seed, never used for training or refinement); *our error* is measured "
        "from the compiled program's outputs against the exact reference, not from the "
        "model or the emulator.",
        "",
        "An error raised while tuning (a non-finite result on the input domain, an "
        "unreachable target, ...) is recorded as a refusal with its located message. "
        "*Ops* counts rounding operations; *mean bits* is the mean precision over them; "
        "*seconds* is the wall-clock time for one FPCore (baseline, tuning and "
        "verification) on a shared machine" + ("." if limit is None else
        f"; an FPCore not done within {limit:g} s is stopped there and listed as over "
        "the time limit, with the seconds it ran."),
        "",
        "## What the FPCore frontend accepts",
        "",
        "`let` and `let*`, the operations of precisec's operation table by their FPCore "
        "names, numbers and the FPCore constants, `(! :precision binary64 …)` annotations "
        "(`:precision binary32` on the core makes a float kernel), `:pre` as any boolean "
        "expression (with `let`): its constant bounds on an argument become the input "
        "ranges, strict ones open, and the rest is a precondition; `:precisec-rmse T`, "
        "`:precisec-relrmse T` or `:precisec-bits T` as the target. `(if c a b)` is a "
        "branch, a `Cond` region of the IR (docs/method.md §1): only the taken side runs, "
        "so the other side may be undefined there (`(if (< x 0) (sqrt (- x)) (sqrt x))` "
        "is fine), and verification compares the tuned program's branch decisions with the "
        "exact program's. An argument whose FPCore name is not a usable C identifier gets "
        "a C name in the kernel and the emitted C (`x-y` → `x_y`, `sr*` → `sr_`, `sin` → `v_sin`, "
        "`double` → `v_double`), which error messages use; `--emit fpcore` writes the "
        "FPCore names back. `(while test ([x init update] …) body)` and `while*` are "
        "`While` regions (docs/method.md §1): `while` computes the initial values and "
        "each round of updates in parallel, `while*` in sequence; the loop stops at its "
        "hard cap, stated in the tuned C, which keeps it a loop: `:precisec-cap N` if the "
        "FPCore states one, else 10^6 iterations, and a loop that reaches that default "
        "cap in the exact reference is refused at the loop with the input (it does not "
        "finish as written); verification compares the trip counts with the exact "
        "program's. A while loop's carried values that neither its test nor the results "
        "read are dropped with the operations only they read (docs/method.md §1). "
        "`(array e …)` as the result (the body, or the body of a `let`, `while` or `!` "
        "there) makes the elements the results, an output array `out` as a C kernel "
        "writes them, measured over all elements. `for` loops, "
        "other tensors, integer and other precisions are refused with a located reason; "
        "`precisec list FILE.fpcore` "
        "prints the same reasons as the table below.",
        "",
        "## Summary",
        "",
        f"* FPCores: **{s['fpcores']}** in {s['files']} "
        f"file{'' if s['files'] == 1 else 's'}.",
        f"* Supported by the frontend: **{s['supported']}**; tuned and verified: "
        f"**{s['tuned']}**; refused while tuning: {s['refused_while_tuning']}; over the "
        f"time limit: {s['over_limit']}.",
        f"* Within target (measured from the compiled C): **{s['within_target']} of "
        f"{s['tuned']}**.",
        "* Targets of the tuned FPCores: " + (", ".join(
            f"{n} {metric}" for metric, n in sorted(s["metrics"].items())) or "none") + ".",
    ]
    if s["mean_bits"] is not None:
        lines.append(f"* Mean bits over the tuned FPCores: {s['mean_bits']:.2f} (double: 53).")
    if s["zero_double"]:
        lines.append(f"* Tuned FPCores whose target comes from the zero-double rule (†): "
                     f"{s['zero_double']}.")
    lines.append(f"* Total wall-clock time: {elapsed:.0f} s.")
    if s["refusals"]:
        lines += [
            "",
            "Refusal reasons, commonest first (names and values elided):",
            "",
            "| count | reason |",
            "|---:|---|",
        ]
        lines += [f"| {count} | {_cell(kind)} |" for kind, count in s["refusals"]]
    lines += [
        "",
        "## Per benchmark",
        "",
        "| file | # | name | status | ops | metric | double error | target | our error "
        "| within target | mean bits | kept | seconds |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        spec = ".2f" if r.metric == "bits" else ".3g"
        target = _number(r.target, spec) + (" †" if r.zero_double and r.target is not None
                                            else "")
        kept = "—" if r.acceptance >= 1 or not r.tuned else f"{r.acceptance:.2%}"
        lines.append(
            f"| {_cell(Path(r.file).name)} | {r.index} | {_cell(r.name)} | {_cell(_status(r))} "
            f"| {'—' if r.operations is None else r.operations} "
            f"| {r.metric if r.supported else '—'} | {_number(r.double_error, spec)} "
            f"| {target} | {_number(r.error, spec)} | {_within(r)} "
            f"| {_number(r.mean_bits, '.2f')} | {kept} | {_number(r.seconds, '.1f')} |")
    lines.append("")
    return "\n".join(lines)


# -- driver ------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    top.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                     help=f"directory of *.fpcore files (default {display_path(DEFAULT_CORPUS)})")
    top.add_argument("--out", type=Path, default=DEFAULT_OUT,
                     help=f"report to write (default {display_path(DEFAULT_OUT)})")
    engine = top.add_mutually_exclusive_group()
    engine.add_argument("--jobs", type=positive_int, default=1,
                        help="FPCores run at once in local processes (default 1)")
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the FPCores on the Dask cluster whose scheduler is at ADDRESS")
    top.add_argument("--samples", type=positive_int, default=DEFAULT_SAMPLES,
                     help=f"inputs per sample (default {DEFAULT_SAMPLES})")
    top.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    top.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT, metavar="S",
                     help="seconds per FPCore before it is stopped and recorded as over the "
                          f"time limit (default {DEFAULT_TIME_LIMIT:g})")
    return top


def run(args: argparse.Namespace) -> int:
    from precisec.errors import PrecisecError
    from precisec.frontend import read_source
    from precisec.frontend.fpcore import read_fpcores

    started = time.perf_counter()
    commit = revision()
    corpus = args.corpus.resolve()
    files = sorted(corpus.glob("*.fpcore"))
    if not files:
        print(f"fpbench_corpus: error: no *.fpcore files in {corpus}", file=sys.stderr)
        return 2
    results: dict[tuple[str, int], Result] = {}
    order: list[tuple[str, int]] = []
    jobs = []
    for path in files:
        file = display_path(path)
        try:
            text = read_source(path)
            entries = read_fpcores(text, file)
        except PrecisecError as err:  # the whole file is unreadable, or not s-expressions
            order.append((file, -1))
            results[file, -1] = Result(file, -1, "(whole file)", False, reason=err.message,
                                       where=str(err.loc), stage="frontend")
            continue
        for e in entries:
            order.append((file, e.index))
            if e.supported:
                jobs.append((file, text, e.index, e.name, args.samples, args.seed,
                             args.time_limit))
            else:
                results[file, e.index] = Result(
                    file, e.index, e.name, False, reason=e.reason or "unsupported",
                    where=str(e.reason_loc) if e.reason_loc else None, stage="frontend")
    labels = [f"{Path(file).name}#{index} {name}" for file, _, index, name, *_ in jobs]
    for job, result in zip(jobs, batch.run(tune_entry, jobs, labels, workers=args.jobs,
                                           scheduler=args.scheduler, what="FPCores"),
                           strict=True):
        file, _, index, name, *_ = job
        if isinstance(result, batch.Failure):  # tune_entry records refusals itself
            print(result, result.detail, sep="\n", file=sys.stderr)
            result = Result(file, index, name, True, reason=result.message, where=result.where,
                            stage="internal" if result.internal else "tuning")
        results[file, index] = result
    ordered = [results[key] for key in order]
    elapsed = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    corpus_name = display_path(corpus)
    text = markdown(ordered, corpus_name, args.seed, args.samples, elapsed, commit,
                    args.time_limit)
    write_atomically(args.out, text)
    s = summary(ordered)
    print(f"FPBench: {s['fpcores']} FPCores, {s['supported']} supported, {s['tuned']} tuned, "
          f"{s['within_target']}/{s['tuned']} within target; {elapsed:.0f} s; "
          f"wrote {display_path(args.out.resolve())}")
    return 3 if any(r.stage == "internal" for r in ordered) else 0


if __name__ == "__main__":
    sys.exit(run(parser().parse_args()))
