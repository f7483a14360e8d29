"""The native backend end to end (flow.run): bits, type search, emitted C compiled and
measured on the test sample; and the compiled native kernel equal, bit for bit, to the
emulation the search trusts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from precisec import flow
from precisec.backend.formats import DOUBLE, FLOAT, available_formats
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned
from precisec.tune.samples import Sample, sample_inputs, validation_seed
from precisec.tune.typesearch import uniform

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 3000


def kernel(path: str):
    return load_c(ROOT / path)


def native(**options) -> flow.Options:
    return flow.Options(samples=SAMPLES, backend="native", **options)


def output_scale(k) -> float:
    """RMS of the exact output over the input box."""
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, SAMPLES, validation_seed(0))
    return float(np.sqrt(np.mean(sample.reference.hi ** 2)))


def code(text: str) -> str:
    """The C text after its leading comment (the header with the measurement)."""
    return text.split(" */\n", 1)[1]


@pytest.mark.slow
def test_sine_tunes_to_all_float_at_a_relaxed_target() -> None:
    """The default path (SGD bits, greedy search): sine at 1e-7 runs in float, with two
    boundary casts, and meets the target as compiled C."""
    k = kernel("benchmarks_fptuner/sine.c")
    result = flow.run(k, 1e-7, "sine.c", native())
    assert result.search is not None and result.tuning is not None
    assert result.bits == result.tuning.bits
    assert result.search.formats == uniform(k, FLOAT)
    assert result.search.casts == 2
    assert result.within_target and result.verification.measurement.count == SAMPLES
    assert "native backend" in result.text and "formats: 10 float; 2 casts" in result.text
    assert "mpfr" not in code(result.text)


def test_jet_at_a_relative_target_and_determinism() -> None:
    """jet at 1e-6 of its output scale, from the first-order optimum: all float (x1, x2
    and the result converted), within target; the same run gives the same bytes."""
    k = kernel("benchmarks_fptuner/jet.c")
    target = 1e-6 * output_scale(k)
    result = flow.run(k, target, "jet.c", native(start="optimum"))
    assert result.tuning is None and result.search is not None
    assert result.search.formats == uniform(k, FLOAT) and result.search.casts == 3
    assert result.within_target
    assert result.verification.measurement.rmse <= target
    again = flow.run(k, target, "jet.c", native(start="optimum"))
    assert again.text == result.text


@pytest.mark.parametrize(("path", "target", "expected"), [
    ("examples/saxpy_float.c", 1e-5, FLOAT),
    ("examples/euler.c", 1e-6, DOUBLE),
])
def test_loop_kernels(path: str, target: float, expected) -> None:
    """A float kernel's loop runs in float with no casts at all; euler's carried values
    start as double inputs, so float sites would cast them twice per iteration and all
    double is cheaper. Both meet their targets as compiled C."""
    k = kernel(path)
    result = flow.run(k, target, path, native(start="optimum"))
    assert result.search is not None
    assert result.search.formats == uniform(k, expected)
    assert result.search.casts == 0
    assert result.within_target


def test_snap_only_and_the_cast_cap_reach_the_file() -> None:
    k = kernel("benchmarks_fptuner/jet.c")
    snapped = flow.run(k, 1e-2, "jet.c", native(start="optimum", search="snap"))
    assert snapped.search is not None and snapped.search.method == "snap"
    assert snapped.search.formats == snapped.search.snapped
    capped = flow.run(k, 1e-2, "jet.c", native(start="optimum", max_casts=0))
    assert capped.search is not None and capped.search.casts == 0
    assert "(double)" not in code(capped.text) and "(float)" not in code(capped.text)
    assert capped.within_target


def test_meaningless_options_are_refused_before_any_work() -> None:
    k = kernel("benchmarks_fptuner/sine.c")
    for options, message in [
            (native(emit="fpcore"), "--emit fpcore"),
            (flow.Options(max_casts=2), "--max-casts applies only to --backend native"),
            (flow.Options(cast_cost=1.0), "--cast-cost applies only"),
            (native(cast_cost=float("nan")), "finite and non-negative"),
            (native(cast_cost=-1.0), "finite and non-negative"),
            (native(search="snap", max_casts=1), "needs the greedy search")]:
        with pytest.raises(PrecisecError, match=message):
            flow.check_options(k, options)


@pytest.mark.parametrize("path", ["benchmarks_fptuner/jet.c", "examples/euler.c",
                                  "examples/matvec.c", "examples/saxpy_float.c",
                                  "examples/horner.c"])
def test_compiled_native_equals_the_emulation(path: str) -> None:
    """+ − × ÷ with casts, loops, arrays and literals: the compiled kernel's outputs are
    the emulator's (round_arguments=True) bit for bit, in every format and in random
    mixtures, which is what lets the search judge formats by emulation."""
    k = kernel(path)
    formats = available_formats()
    rng = np.random.default_rng(7)
    assignments = [uniform(k, f) for f in formats]
    assignments += [tuple(formats[int(rng.integers(n))] for _ in k.sites) for n in (2, 4)]
    inputs = sample_inputs(k, 500, 11)
    with Evaluator(k) as evaluator, tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{k.name}.c"
        for assignment in assignments:
            source.write_text(emit_native(k, assignment, ["test"]))
            compiled = run_tuned(source, k, inputs, native=True).outputs
            emulated = evaluator.emulate([f.bits for f in assignment], inputs,
                                         round_arguments=True).outputs
            np.testing.assert_array_equal(compiled, emulated)
