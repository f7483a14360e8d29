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
from dataclasses import dataclass, field
from pathlib import Path

from precisec import __version__
from precisec.backend.fpcore import emit_fpcore
from precisec.backend.mpfr import emit_mpfr
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned
from precisec.tune.refine import Measurement
from precisec.tune.samples import DEFAULT_SAMPLES, Sample, test_seed, validation_seed
from precisec.tune.tuner import Analysis, Tuning, analyze, tune
from precisec.tune.typesearch import (
    SEARCHES,
    CostModel,
    TypeSearch,
    format_counts,
    optimum_start,
    search_types,
)

BACKENDS = ("mpfr", "native")
EMITS = ("c", "fpcore")
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
    `allow_unsampled`, sites few validation inputs run are tuned like the others
    instead of keeping the baseline precision (`precisec.tune.coverage`)."""

    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    backend: str = "mpfr"
    emit: str = "c"
    max_casts: int | None = None
    search: str | None = None
    start: str | None = None
    cast_cost: float | None = None
    allow_unsampled: bool = False

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


@dataclass(frozen=True)
class Result:
    """A tuned kernel: the analysis, the bits (the MPFR allocation, or where the native
    search started), the SGD tuning (None for a native search from the optimum), the
    native formats (`search`, None for MPFR), the emitted text, its measurement."""

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

    @property
    def within_target(self) -> bool:
        return self.verification.measurement.rmse <= self.target


def verify_text(kernel: Kernel, text: str, sample: Sample, native: bool = False,
                source: Path | None = None, timeout: float | None = None) -> Verification:
    """Compile C source held in memory, run it on the sample, compare with its
    reference (and the branch decisions with the exact program's). `source` is the
    file `text` was read from, if any: it is built in place, so errors are located in it.
    The program is stopped after `timeout` seconds (`toolchain.default_timeout` if None)."""
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="precisec-verify-") as tmp:
        path = source or Path(tmp) / f"{kernel.name}.c"
        if source is None:
            path.write_text(text)
        run = run_tuned(path, kernel, sample.inputs, native=native, timeout=timeout)
    return Verification(sample.measure(run.outputs), time.perf_counter() - clock,
                        sample.divergence(run.branches))


def provenance(kernel: Kernel, source: str, backend: str, measured: Measurement | None,
               count: int, seed: int, target: float) -> list[str]:
    """The first lines of a tuned file's comment: where it came from and what was
    measured (`count` inputs while the measurement is pending)."""
    rmse = "pending" if measured is None else f"{measured.rmse:.3e}"
    max_error = "pending" if measured is None else f"{measured.max_error:.3e}"
    count = count if measured is None else measured.count
    return [
        f"Tuned by precisec {__version__} from {Path(source).name} (kernel '{kernel.name}')"
        f"{backend}.",
        f"target RMSE {target:.3e}; measured RMSE {rmse}, max error {max_error}",
        f"  (compiled C against the exact reference, {count} fresh inputs, "
        f"sample seed {test_seed(seed)}).",
    ]


def header(kernel: Kernel, source: str, tuning: Tuning, measured: Measurement | None,
           target: float) -> list[str]:
    """The tuned file's leading comment: provenance, guarantee, measurement, build line."""
    return [
        *provenance(kernel, source, "", measured, tuning.refinement.validation.count,
                    tuning.seed, target),
        f"mean bits {tuning.mean_bits:.2f} over {len(kernel.sites)} rounding operations "
        f"(first-order optimum {tuning.analysis.optimum_mean_bits:.2f}); seed {tuning.seed}.",
        "Build: gcc -O2 app.c this_file.c $(precisec cflags)",
    ]


def native_header(kernel: Kernel, source: str, search: TypeSearch, seed: int,
                  measured: Measurement | None, target: float) -> list[str]:
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


def check_options(kernel: Kernel, options: Options) -> None:
    """Refuse meaningless combinations before any work is done."""
    if options.backend not in BACKENDS:
        raise PrecisecError(kernel.loc, f"unknown backend '{options.backend}'")
    if options.emit not in EMITS:
        raise PrecisecError(kernel.loc, f"unknown output format '{options.emit}'")
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


def analysis_of(kernel: Kernel, target: float, options: Options) -> Analysis:
    """`precisec analyze`: the analysis on the validation sample."""
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, options.samples, validation_seed(options.seed))
        return analyze(evaluator, target, sample)


def run(kernel: Kernel, target: float, source: str, options: Options = Options()) -> Result:
    """Tune, emit, verify on the test sample, and emit the final text."""
    check_options(kernel, options)
    native = options.backend == "native"
    seconds: dict[str, float] = {}
    started = clock = time.perf_counter()
    with Evaluator(kernel) as evaluator:
        validation = Sample.draw(evaluator, options.samples, validation_seed(options.seed))
        seconds["reference"] = time.perf_counter() - clock
        clock = time.perf_counter()
        analysis = analyze(evaluator, target, validation)
        seconds["analysis"] = time.perf_counter() - clock
        tuning = None
        if native and options.native_start == "optimum":
            bits = optimum_start(analysis)
        else:
            tuning = tune(evaluator, target, options.seed, validation, analysis,
                          options.allow_unsampled)
            seconds.update(tuning.seconds)
            bits = tuning.bits
        search = None
        if native:
            clock = time.perf_counter()
            search = search_types(evaluator, target, bits, analysis.sensitivities, validation,
                                  max_casts=options.max_casts, cost_model=options.cost_model,
                                  method=options.native_search)
            seconds["type search"] = time.perf_counter() - clock
        clock = time.perf_counter()
        test = Sample.draw(evaluator, options.samples, test_seed(options.seed), corners=False)
        seconds["reference"] += time.perf_counter() - clock

    def emit(measured: Measurement | None) -> str:
        if search is not None:
            return emit_native(kernel, search.formats, native_header(
                kernel, source, search, options.seed, measured, target))
        assert tuning is not None
        return emit_mpfr(kernel, tuning.bits, header(kernel, source, tuning, measured, target))

    clock = time.perf_counter()
    draft = emit(None)
    seconds["emission"] = time.perf_counter() - clock
    verification = verify_text(kernel, draft, test, native=native)
    seconds["verification"] = verification.seconds
    clock = time.perf_counter()
    text = emit_fpcore(kernel, bits) if options.emit == "fpcore" \
        else emit(verification.measurement)
    seconds["emission"] += time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    return Result(kernel, target, options, analysis, bits, tuning, search, text, verification,
                  seconds)


def site_rows(result: Result) -> Sequence[object]:
    """The per-site report rows, with budget shares of the measured error."""
    used = (result.verification.measurement.rmse / result.target) ** 2
    return result.analysis.rows(result.bits, used)
