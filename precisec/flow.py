"""The one flow from a kernel to a verified tuned file: tune → emit → verify → re-emit.

Every caller (the CLI, `precisec table`, the corpus benchmark) goes through `run`; the
backend and the output format are parameters, never separate pipelines. The MPFR backend
emits the tuned bits; the native backend (docs/native.md) starts from the tuned bits or
the first-order optimum and searches hardware formats on top (`tune.typesearch`). The
tuned file's header states what was measured, so the file is emitted twice: once to be
compiled and measured on the fresh test sample, once more with that measurement in its
header (the code itself is identical).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from precisec import __version__
from precisec.backend.entry import header_text, with_batch
from precisec.backend.fast import emit_fast
from precisec.backend.fpcore import emit_fpcore
from precisec.backend.mpfr import emit_mpfr
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.semantics.bound import Bound, bound
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned
from precisec.tune.coverage import site_executions
from precisec.tune.metrics import Target, as_target
from precisec.tune.refine import Measurement
from precisec.tune.samples import DEFAULT_SAMPLES, Sample, test_seed, validation_seed
from precisec.tune.strata import stratify
from precisec.tune.tuner import Analysis, Tuning, analyze, tune
from precisec.tune.typesearch import (
    SEARCHES,
    CostModel,
    TypeSearch,
    format_counts,
    optimum_start,
    search_types,
)
from precisec.tune.worstcase import WorstCase, tune_maxerr

BACKENDS = ("mpfr", "native", "fast")
EMITS = ("c", "fpcore", "h")
# Backends whose files have a batched entry point and a header form (docs/fast.md).
ENTRY_BACKENDS = ("native", "fast")
STARTS = ("sgd", "optimum")
# The native options, as the command line spells them; None means not given.
NATIVE_OPTIONS = {"max_casts": "--max-casts", "search": "--search", "start": "--start",
                  "cast_cost": "--cast-cost"}


@dataclass(frozen=True)
class Options:
    """How to tune: the seed, the sample size, the backend and the output format; for the
    native backend, the cap on casts, the search (greedy or snap), where its bits start
    (sgd or optimum) and the cost of an interior cast. Native options are None unless
    given; `native_search`, `native_start` and `cost_model` apply the defaults. With
    `allow_unsampled`, sites few validation inputs run, and with `tune_conditions`, sites
    of branch conditions, are tuned like the others instead of keeping the baseline
    precision (`precisec.tune.coverage`)."""

    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    backend: str = "mpfr"
    emit: str = "c"
    max_casts: int | None = None
    search: str | None = None
    start: str | None = None
    cast_cost: float | None = None
    allow_unsampled: bool = False
    tune_conditions: bool = False

    @property
    def native_search(self) -> str:
        return self.search or "greedy"

    @property
    def native_start(self) -> str:
        return self.start or "sgd"

    @property
    def cost_model(self) -> CostModel:
        return CostModel() if self.cast_cost is None else CostModel(cast=self.cast_cost)


@dataclass(frozen=True)
class Verification:
    """A tuned C file measured against the exact reference on a fresh sample."""

    measurement: Measurement
    seconds: float
    branch_divergence: float | None = None
    trip_divergence: float | None = None


@dataclass(frozen=True)
class Result:
    """A tuned kernel: the analysis, the bits (the MPFR allocation, or where the native
    search started), the SGD tuning (None for a native search from the optimum), the
    native formats (`search`, None for MPFR), the emitted text, its measurement.
    `target` is the bound in `metric`'s units; `acceptance` the share of drawn inputs the
    validation sample kept (1 without rejection sampling, docs/method.md §6)."""

    kernel: Kernel
    target: float
    options: Options
    analysis: Analysis
    bits: tuple[int, ...]
    tuning: Tuning | None
    search: TypeSearch | None
    text: str
    verification: Verification
    seconds: dict[str, float] = field(default_factory=dict)
    metric: str = "rmse"
    acceptance: float = 1.0
    bound: Bound | None = None
    maxerr: float | None = None
    worst_case: WorstCase | None = None
    test_executions: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Per site, how many test inputs execute it, when some sites were stratified."""

    @property
    def goal(self) -> Target:
        return Target(self.metric, self.target)

    @property
    def within_target(self) -> bool:
        return self.verification.measurement.value <= self.target and self.within_maxerr

    @property
    def within_maxerr(self) -> bool:
        """Whether the sound bound meets the worst-case target (True without one)."""
        return self.maxerr is None or (self.bound is not None and self.bound.value is not None
                                       and self.bound.value <= self.maxerr)


def verify_text(kernel: Kernel, text: str, sample: Sample, native: bool = False,
                source: Path | None = None, timeout: float | None = None) -> Verification:
    """Compile C source held in memory, run it on the sample, compare with its
    reference (and the branch decisions and while-loop trip counts with the exact
    program's). `source` is the
    file `text` was read from, if any: it is built in place, so errors are located in it.
    The program is stopped after `timeout` seconds (`toolchain.default_timeout` if None)."""
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="precisec-verify-") as tmp:
        path = source or Path(tmp) / f"{kernel.name}.c"
        if source is None:
            path.write_text(text)
        run = run_tuned(path, kernel, sample.inputs, native=native, timeout=timeout)
    return Verification(sample.measure(run.outputs), time.perf_counter() - clock,
                        sample.divergence(run.branches), sample.trip_divergence(run.trips))


def provenance(kernel: Kernel, source: str, backend: str, measured: Measurement | None,
               count: int, seed: int, target: float | Target) -> list[str]:
    """The first lines of a tuned file's comment: where it came from and what was
    measured (`count` inputs while the measurement is pending)."""
    goal = as_target(target)
    value = "pending" if measured is None else goal.format(measured.value)
    max_error = "pending" if measured is None else goal.format(measured.max_error)
    count = count if measured is None else measured.count
    return [
        f"Tuned by precisec {__version__} from {Path(source).name} (kernel '{kernel.name}')"
        f"{backend}.",
        f"target {goal.name} {goal.format(goal.value)}; measured {goal.name} {value}, "
        f"max error {max_error}",
        f"  (compiled C against the exact reference, {count} fresh inputs, "
        f"sample seed {test_seed(seed)}).",
    ]


def header(kernel: Kernel, source: str, tuning: Tuning, measured: Measurement | None,
           target: float | Target, worst: Bound | None = None,
           maxerr: float | None = None) -> list[str]:
    """The tuned file's leading comment: provenance, guarantee, measurement, build line."""
    return [
        *provenance(kernel, source, "", measured, tuning.refinement.validation.count,
                    tuning.seed, target),
        *guarantee_lines(worst, maxerr),
        f"mean bits {tuning.mean_bits:.2f} over {len(kernel.sites)} rounding operations "
        f"(first-order optimum {tuning.analysis.optimum_mean_bits:.2f}); seed {tuning.seed}.",
        "Build: gcc -O2 app.c this_file.c $(precisec cflags)",
    ]


def guarantee_lines(worst: Bound | None, maxerr: float | None) -> list[str]:
    """Which guarantee the file carries: the worst-case target met by a sound bound, or
    the measured target above with the sound bound beside it (docs/method.md §8)."""
    if worst is None:
        return []
    carried = "the measured target above" if maxerr is None else \
        f"worst case, target maxerr {maxerr:.3e}"
    return [f"guarantee: {carried}; sound bound (MPFR rounding model, docs/method.md §8)",
            f"  {worst.describe()}."]


def with_bits(tuning: Tuning, bits: tuple[int, ...], validation: Measurement) -> Tuning:
    """The tuning with its allocation replaced (by the worst-case search) and measured."""
    refinement = replace(tuning.refinement, bits=bits, validation=validation)
    return replace(tuning, refinement=refinement)


def analysis_bounds(analysis: Analysis) -> tuple[Bound, Bound]:
    """`precisec analyze`: the sound bounds of all-double (all-float) and of the
    first-order optimum."""
    kernel = analysis.kernel
    return (bound(kernel, [kernel.baseline_bits] * len(kernel.sites)),
            bound(kernel, [int(b) for b in analysis.optimum_bits]))


def native_header(kernel: Kernel, source: str, search: TypeSearch, seed: int,
                  measured: Measurement | None, target: float | Target) -> list[str]:
    """The native tuned file's leading comment."""
    counts = ", ".join(f"{n} {name}" for name, n in format_counts(search.formats).items())
    return [
        *provenance(kernel, source, ", native backend", measured, search.validation.count,
                    seed, target),
        f"formats: {counts or 'none'}; {search.casts} casts; estimated cost {search.cost:g}; "
        f"search {search.method}; seed {seed}.",
        "+ - * / sqrt fma are correctly rounded IEEE operations; other libm functions are",
        "not correctly rounded, so only the measurement above vouches for them.",
        "Build: gcc -std=c11 -O2 app.c this_file.c $(precisec cflags --backend native)",
    ]


def fast_header(lines: list[str]) -> list[str]:
    """The MPFR file's header for the fast backend's file: what runs where, its build line."""
    return [*lines[:-1],
            "fast backend: + - * / sqrt at <= 53 bits in doubles (error-free transformations,",
            "one rounding to the site's bits, ties to even); other operations and wider sites",
            "call MPFR for that operation alone; a value outside [2^-900, 2^900] reruns the",
            "call in MPFR. Bit for bit the MPFR file's results (docs/fast.md).",
            "Build: gcc -std=c11 -O2 app.c this_file.c $(precisec cflags --backend fast)"]


def check_options(kernel: Kernel, options: Options) -> None:
    """Refuse meaningless combinations before any work is done."""
    if options.backend not in BACKENDS:
        raise PrecisecError(kernel.loc, f"unknown backend '{options.backend}'")
    if options.emit not in EMITS:
        raise PrecisecError(kernel.loc, f"unknown output format '{options.emit}'")
    if options.emit == "h" and options.backend not in ENTRY_BACKENDS:
        raise PrecisecError(kernel.loc, "--emit h needs --backend fast or --backend native")
    if options.emit == "fpcore" and options.backend != "native":
        # A kernel FPCore cannot express (loops, arrays) is refused now, not after tuning.
        emit_fpcore(kernel, [kernel.baseline_bits] * len(kernel.sites))
    if options.backend != "native":
        given = [flag for name, flag in NATIVE_OPTIONS.items()
                 if getattr(options, name) is not None]
        if given:
            raise PrecisecError(kernel.loc, f"{given[0]} applies only to --backend native")
        return
    if options.emit == "fpcore":
        raise PrecisecError(kernel.loc, "--emit fpcore cannot express hardware formats; "
                                        "use --backend mpfr or --emit c")
    if options.search is not None and options.search not in SEARCHES:
        raise PrecisecError(kernel.loc, f"unknown search '{options.search}'")
    if options.start is not None and options.start not in STARTS:
        raise PrecisecError(kernel.loc, f"unknown start '{options.start}'")
    if options.cast_cost is not None and not (math.isfinite(options.cast_cost)
                                              and options.cast_cost >= 0):
        raise PrecisecError(kernel.loc, "--cast-cost must be finite and non-negative, "
                                        f"got {options.cast_cost}")
    if options.max_casts is not None and options.max_casts < 0:
        raise PrecisecError(kernel.loc, f"--max-casts must be non-negative, "
                                        f"got {options.max_casts}")
    if options.max_casts is not None and options.native_search == "snap":
        raise PrecisecError(kernel.loc, "--max-casts needs the greedy search: --search snap "
                                        "only snaps the bits up")


def analysis_of(kernel: Kernel, target: float | Target, options: Options) -> Analysis:
    """`precisec analyze`: the analysis on the validation sample."""
    goal = as_target(target)
    with Evaluator(kernel) as evaluator:
        return analyze(evaluator, goal, validation_sample(evaluator, goal, options),
                       options.allow_unsampled, options.tune_conditions)


def validation_sample(evaluator: Evaluator, goal: Target, options: Options) -> Sample:
    """The validation sample: drawn from the input distribution, with stratified inputs
    for the branch regions the draw misses (`tune.strata`, docs/method.md §4)."""
    seed = validation_seed(options.seed)
    return stratify(evaluator, Sample.draw(evaluator, options.samples, seed,
                                           metric=goal.metric), seed)


def run(kernel: Kernel, target: float | Target, source: str,
        options: Options = Options(), maxerr: float | None = None) -> Result:
    """Tune, emit, verify on the test sample, and emit the final text. A bare number
    as the target is an RMSE. With `maxerr`, the bits also meet that worst-case target
    by the sound bound (docs/method.md §9)."""
    check_options(kernel, options)
    goal = as_target(target)
    native = options.backend == "native"
    if maxerr is not None and native:
        raise PrecisecError(kernel.loc, "a maxerr target needs --backend mpfr: the sound "
                                        "bound models MPFR's correctly rounded operations")
    seconds: dict[str, float] = {}
    started = clock = time.perf_counter()
    with Evaluator(kernel) as evaluator:
        validation = validation_sample(evaluator, goal, options)
        seconds["reference"] = time.perf_counter() - clock
        clock = time.perf_counter()
        analysis = analyze(evaluator, goal, validation, options.allow_unsampled,
                           options.tune_conditions)
        seconds["analysis"] = time.perf_counter() - clock
        tuning = None
        if native and options.native_start == "optimum":
            bits = optimum_start(analysis)
        else:
            tuning = tune(evaluator, goal, options.seed, validation, analysis,
                          options.allow_unsampled, options.tune_conditions)
            seconds.update(tuning.seconds)
            bits = tuning.bits
        worst = None
        if maxerr is not None and tuning is not None:
            clock = time.perf_counter()

            def measure(candidate: tuple[int, ...]) -> Measurement:
                return validation.measure(evaluator.emulate(candidate, validation.inputs).outputs)

            worst = tune_maxerr(kernel, maxerr, tuning.bits,
                                lambda candidate: measure(candidate).value <= goal.value)
            tuning = with_bits(tuning, worst.bits, measure(worst.bits))
            bits = tuning.bits
            seconds["worst case"] = time.perf_counter() - clock
        search = None
        if native:
            clock = time.perf_counter()
            search = search_types(evaluator, goal.value, bits, analysis.sensitivities, validation,
                                  max_casts=options.max_casts, cost_model=options.cost_model,
                                  method=options.native_search)
            seconds["type search"] = time.perf_counter() - clock
        clock = time.perf_counter()
        test = Sample.draw(evaluator, options.samples, test_seed(options.seed), corners=False,
                           metric=goal.metric)
        # the test sample is never stratified; how often it runs the stratified sites
        test_executions = site_executions(kernel, test.inputs, test.reference) \
            if analysis.stratified else None
        seconds["reference"] += time.perf_counter() - clock
    clock = time.perf_counter()
    file_bound = worst.bound if worst is not None else None if native else bound(kernel, bits)
    seconds["bound"] = time.perf_counter() - clock

    def emit(measured: Measurement | None) -> str:
        if search is not None:
            return emit_native(kernel, search.formats, native_header(
                kernel, source, search, options.seed, measured, goal))
        assert tuning is not None
        lines = header(kernel, source, tuning, measured, goal, file_bound, maxerr)
        if options.backend == "fast":
            return emit_fast(kernel, tuning.bits, fast_header(lines))
        return emit_mpfr(kernel, tuning.bits, lines)

    def emit_c(measured: Measurement | None) -> str:
        text = emit(measured)
        return with_batch(kernel, text) if options.backend in ENTRY_BACKENDS else text

    clock = time.perf_counter()
    draft = emit_c(None)
    seconds["emission"] = time.perf_counter() - clock
    verification = verify_text(kernel, draft, test, native=native)
    seconds["verification"] = verification.seconds
    clock = time.perf_counter()
    if options.emit == "fpcore":
        text = emit_fpcore(kernel, bits)
    elif options.emit == "h":
        text = header_text(kernel, emit(verification.measurement))
    else:
        text = emit_c(verification.measurement)
    seconds["emission"] += time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    return Result(kernel, goal.value, options, analysis, bits, tuning, search, text, verification,
                  seconds, goal.metric, validation.acceptance, file_bound, maxerr, worst,
                  test_executions)


def site_rows(result: Result) -> Sequence[object]:
    """The per-site report rows, with budget shares of the measured error."""
    return result.analysis.rows(result.bits, budget_used(result.verification.measurement,
                                                         result.target))


def budget_used(measured: Measurement, target: float) -> float:
    """The share of the error budget a measurement uses: of τ² for the RMS metrics, of
    the bits for bits."""
    ratio = measured.value / target
    return ratio if measured.metric == "bits" else ratio**2
