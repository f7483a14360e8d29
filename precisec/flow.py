"""The one flow from a kernel to a verified tuned file: tune → emit → verify → re-emit.

Every caller (the CLI, `precisec table`, the corpus benchmark) goes through `run`; the
backend and the output format are parameters, never separate pipelines. The tuned file's
header states what was measured, so the file is emitted twice: once to be compiled and
measured on the fresh test sample, once more with that measurement in its header (the
code itself is identical).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from precisec import __version__
from precisec.backend.fpcore import emit_fpcore
from precisec.backend.mpfr import emit_mpfr
from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned
from precisec.tune.refine import Measurement
from precisec.tune.samples import DEFAULT_SAMPLES, Sample, test_seed, validation_seed
from precisec.tune.tuner import Analysis, Tuning, analyze, tune

BACKENDS = ("mpfr",)
EMITS = ("c", "fpcore")


@dataclass(frozen=True)
class Options:
    """How to tune: the seed, the sample size, the backend and the output format."""

    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    backend: str = "mpfr"
    emit: str = "c"


@dataclass(frozen=True)
class Verification:
    """A tuned C file measured against the exact reference on a fresh sample."""

    measurement: Measurement
    seconds: float
    branch_divergence: float | None = None


@dataclass(frozen=True)
class Result:
    """A tuned kernel: the allocation, the emitted text, its measurement."""

    kernel: Kernel
    target: float
    tuning: Tuning
    text: str
    verification: Verification
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def within_target(self) -> bool:
        return self.verification.measurement.rmse <= self.target


def verify_text(kernel: Kernel, text: str, sample: Sample, native: bool = False
                ) -> Verification:
    """Compile C source held in memory, run it on the sample, compare with its
    reference (and the branch decisions with the exact program's)."""
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="precisec-verify-") as tmp:
        path = Path(tmp) / f"{kernel.name}.c"
        path.write_text(text)
        run = run_tuned(path, kernel, sample.inputs, native=native)
    return Verification(sample.measure(run.outputs), time.perf_counter() - clock,
                        sample.divergence(run.branches))


def header(kernel: Kernel, source: str, tuning: Tuning, measured: Measurement | None,
           target: float) -> list[str]:
    """The tuned file's leading comment: provenance, guarantee, measurement, build line."""
    rmse = "pending" if measured is None else f"{measured.rmse:.3e}"
    max_error = "pending" if measured is None else f"{measured.max_error:.3e}"
    count = tuning.refinement.validation.count if measured is None else measured.count
    return [
        f"Tuned by precisec {__version__} from {Path(source).name} (kernel '{kernel.name}').",
        f"target RMSE {target:.3e}; measured RMSE {rmse}, max error {max_error}",
        f"  (compiled C against the exact reference, {count} "
        f"fresh inputs, sample seed {test_seed(tuning.seed)}).",
        f"mean bits {tuning.mean_bits:.2f} over {len(kernel.sites)} rounding operations "
        f"(first-order optimum {tuning.analysis.optimum_mean_bits:.2f}); seed {tuning.seed}.",
        "Build: gcc -O2 app.c this_file.c $(precisec cflags)",
    ]


def check_options(kernel: Kernel, options: Options) -> None:
    """Refuse meaningless combinations before any work is done."""
    if options.backend not in BACKENDS:
        raise PrecisecError(kernel.loc, f"unknown backend '{options.backend}'")
    if options.emit not in EMITS:
        raise PrecisecError(kernel.loc, f"unknown output format '{options.emit}'")


def analysis_of(kernel: Kernel, target: float, options: Options) -> Analysis:
    """`precisec analyze`: the analysis on the validation sample."""
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, options.samples, validation_seed(options.seed))
        return analyze(evaluator, target, sample)


def run(kernel: Kernel, target: float, source: str, options: Options = Options()) -> Result:
    """Tune, emit, verify on the test sample, and emit the final text."""
    check_options(kernel, options)
    seconds: dict[str, float] = {}
    started = clock = time.perf_counter()
    with Evaluator(kernel) as evaluator:
        validation = Sample.draw(evaluator, options.samples, validation_seed(options.seed))
        seconds["reference"] = time.perf_counter() - clock
        clock = time.perf_counter()
        analysis = analyze(evaluator, target, validation)
        seconds["analysis"] = time.perf_counter() - clock
        tuning = tune(evaluator, target, options.seed, validation, analysis)
        seconds.update(tuning.seconds)
        clock = time.perf_counter()
        test = Sample.draw(evaluator, options.samples, test_seed(options.seed))
        seconds["reference"] += time.perf_counter() - clock
    draft = emit_mpfr(kernel, tuning.bits, header(kernel, source, tuning, None, target))
    verification = verify_text(kernel, draft, test)
    seconds["verification"] = verification.seconds
    if options.emit == "fpcore":
        text = emit_fpcore(kernel, tuning.bits)
    else:
        text = emit_mpfr(kernel, tuning.bits,
                         header(kernel, source, tuning, verification.measurement, target))
    seconds["total"] = time.perf_counter() - started
    return Result(kernel, target, tuning, text, verification, seconds)


def site_rows(result: Result) -> Sequence[object]:
    """The per-site report rows, with budget shares of the measured error."""
    used = (result.verification.measurement.rmse / result.target) ** 2
    return result.tuning.analysis.rows(result.tuning.bits, used)
