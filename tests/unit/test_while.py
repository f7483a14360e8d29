"""While loops (`precisec.ir.core.While`) through every layer: the IR's checks, the
defining interpreter against the compiled evaluator bit for bit (results, branch and trip
hashes), the cap, the FPCore forms `while` (parallel) and `while*` (sequential), the
noise model's masked scan, and the emitted C as a real loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_kernels import bits_of, sample
from while_kernels import SERIES_C, newton_sqrt, random_while_kernels

from precisec.backend.formats import DOUBLE, FLOAT
from precisec.backend.mpfr import emit_mpfr
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.frontend.fpcore import parse_fpcore
from precisec.ir.check import IRError, pretty, verify
from precisec.ir.core import WHILE_CAP, Kernel, While, executions
from precisec.semantics import interpret
from precisec.semantics.compiled import Evaluator
from precisec.semantics.noise import model_for, trip_bounds
from precisec.semantics.perturbed import Taps
from precisec.toolchain import run_tuned, trace_hash

PROPERTY = settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow,
                                                            HealthCheck.data_too_large])


def the_while(kernel: Kernel) -> While:
    (loop,) = [s for s in kernel.body.stmts if isinstance(s, While)]
    return loop


def interpreted(kernel: Kernel, inputs: np.ndarray, bits: list[int]
                ) -> tuple[np.ndarray, list[int], list[int]]:
    outputs, branches, trips = [], [], []
    for point in inputs:
        run = interpret.run(kernel, point, bits)
        outputs.append(interpret.point_outputs(kernel, point, bits))
        branches.append(trace_hash(run.trace))
        trips.append(trace_hash(run.trips))
    return np.array(outputs), branches, trips


def check_agreement(kernel: Kernel, evaluator: Evaluator, inputs: np.ndarray,
                    bits: list[int]) -> None:
    outputs, branches, trips = interpreted(kernel, inputs, bits)
    emulation = evaluator.emulate(bits, inputs)
    assert np.array_equal(bits_of(emulation.outputs), bits_of(outputs))
    if kernel.n_branches:
        assert emulation.branches is not None
        assert [int(h) for h in emulation.branches] == branches
    assert emulation.trips is not None
    assert [int(h) for h in emulation.trips] == trips


# -- the IR ------------------------------------------------------------------------------------

def test_a_while_loop_prints_and_counts_its_cap() -> None:
    kernel = newton_sqrt(cap=1000)
    text = pretty(kernel)
    assert "while  # loop 0, cap 1000" in text and "test v_" in text
    # condition sites and body sites both count the cap (the static bound)
    assert executions(kernel) == [1000] * 6 + [1]


@pytest.mark.parametrize(("change", "message"), [
    (lambda loop: dataclasses.replace(loop, cap=0), "iteration cap 0"),
    (lambda loop: dataclasses.replace(loop, number=1), "while loop number 1"),
    (lambda loop: dataclasses.replace(loop, cond=dataclasses.replace(
        loop.cond, results=loop.body.results)), "the condition must give one boolean"),
])
def test_the_verifier_refuses_broken_while_loops(change, message: str) -> None:  # type: ignore[no-untyped-def]
    kernel = newton_sqrt()
    loop = the_while(kernel)
    stmts = tuple(change(s) if s is loop else s for s in kernel.body.stmts)
    broken = dataclasses.replace(kernel, body=dataclasses.replace(kernel.body, stmts=stmts))
    with pytest.raises(IRError, match=message):
        verify(broken)


# -- interpreters --------------------------------------------------------------------------

def test_newton_trips_depend_on_the_input_and_the_cap_stops_the_loop() -> None:
    kernel = newton_sqrt()
    few = interpret.run(kernel, [1.0], exact_bits=320)
    many = interpret.run(kernel, [999.0], exact_bits=320)
    assert few.trips == [0, 0] and many.trips[0] == 0 and many.trips[1] > 5
    assert abs(float(many.results[0]) + 0.1 - 999.0 ** 0.5) < 1e-9
    capped = newton_sqrt(cap=2)
    assert interpret.run(capped, [999.0], exact_bits=320).trips == [0, 2]
    # an unreachable tolerance at 10 bits: the loop runs to its cap
    assert interpret.run(capped, [999.0], [10] * len(capped.sites)).trips == [0, 2]


def test_a_loop_that_reaches_the_default_cap_is_refused_by_the_exact_reference() -> None:
    """The default cap is a safety stop: reaching it in the exact reference is a located
    refusal at the loop, after the first such sample; a stated cap is the semantics."""
    endless = parse_fpcore("(FPCore (x) :pre (<= 0 x 1)\n  (while* TRUE ([y x (* y 1/2)]) y))",
                           "k")
    assert not the_while(endless).stated
    with Evaluator(endless) as evaluator, pytest.raises(PrecisecError) as info:
        evaluator.exact(np.array([[0.5], [0.25]]))
    assert (info.value.loc.line, info.value.loc.col) == (2, 3)
    assert f"does not finish within its cap of {WHILE_CAP} iterations" in info.value.message
    assert "at x=0.5;" in info.value.message
    capped = newton_sqrt(cap=2)
    assert the_while(capped).stated
    with Evaluator(capped) as evaluator:
        reference = evaluator.exact(np.array([[999.0]]))
        assert reference.trips is not None
        assert int(reference.trips[0]) == trace_hash([0, 2])
        # emulation is never refused: a low precision may run to the cap
        assert evaluator.emulate([10] * len(capped.sites), np.array([[999.0]])).trips is not None


def test_newton_agrees_with_the_compiled_evaluator_and_its_trip_hashes() -> None:
    kernel = newton_sqrt()
    inputs = sample(kernel, 40, seed=3)
    with Evaluator(kernel) as evaluator:
        for bits in ([53] * 7, [30, 20, 40, 24, 25, 26, 53], [12] * 7):
            check_agreement(kernel, evaluator, inputs, bits)
        reference = evaluator.exact(inputs)
    exact = [interpret.run(kernel, point, exact_bits=reference.bits) for point in inputs]
    assert reference.trips is not None
    assert [int(h) for h in reference.trips] == [trace_hash(run.trips) for run in exact]
    assert len(set(reference.trips.tolist())) > 2  # several trip counts in the sample


@PROPERTY
@given(data=st.data(), precision=st.sampled_from(["double", "float"]))
def test_random_while_kernels_agree_with_the_interpreter(data: st.DataObject,
                                                         precision: str) -> None:
    kernel = data.draw(random_while_kernels(precision=precision))
    bits = data.draw(st.lists(st.integers(2, 120), min_size=len(kernel.sites),
                              max_size=len(kernel.sites)))
    inputs = sample(kernel, 8, seed=len(kernel.sites))
    if not kernel.n_whiles:
        return
    with Evaluator(kernel) as evaluator:
        check_agreement(kernel, evaluator, inputs, bits)
        reference = evaluator.exact(inputs)
    for point, hi, trips in zip(inputs, reference.hi, reference.trips, strict=True):
        run = interpret.run(kernel, point, exact_bits=reference.bits)
        assert trace_hash(run.trips) == int(trips)
        ctx = interpret.context(106)
        assert np.allclose([float(ctx.plus(v)) for v in run.results], hi, rtol=1e-15,
                           atol=0)


# -- FPCore ------------------------------------------------------------------------------------

SWAP = "(FPCore (x y) :pre (and (<= 1 x 2) (<= 1 y 2)) ({form} (< n 3) ([n 0 (+ n 1)] " \
       "[x x y] [y y x]) (- x y)))"


def test_while_updates_in_parallel_and_while_star_in_sequence() -> None:
    """`while` swaps x and y each round (3 rounds: x − y = y0 − x0); `while*` sets x to
    y, then y to the new x (x − y = 0)."""
    parallel = parse_fpcore(SWAP.format(form="while"), "swap.fpcore")
    sequential = parse_fpcore(SWAP.format(form="while*"), "swap.fpcore")
    assert float(interpret.run(parallel, [1.25, 1.75], exact_bits=200).results[0]) == 0.5
    assert float(interpret.run(sequential, [1.25, 1.75], exact_bits=200).results[0]) == 0.0
    assert the_while(parallel).cap == WHILE_CAP


EXP_SERIES = """(FPCore (x) :pre (<= -2 x 2)
 (while* (> (fabs t) 1e-20) ([s 0 (+ s t)] [k 0 (+ k 1)] [t 1 (/ (* t x) k)]) s))"""


def test_a_series_summed_until_its_term_is_small_is_exp() -> None:
    kernel = parse_fpcore(EXP_SERIES, "exp.fpcore")
    inputs = np.array([[-2.0], [-0.5], [0.0], [1.0], [2.0]])
    with Evaluator(kernel) as evaluator:
        reference = evaluator.exact(inputs)
        check_agreement(kernel, evaluator, inputs, [30] * len(kernel.sites))
    assert np.allclose(reference.hi[:, 0], np.exp(inputs[:, 0]), rtol=1e-15)


# -- the emitted C and the noise model ---------------------------------------------------------

def test_the_tuned_c_is_a_real_capped_loop() -> None:
    text = emit_mpfr(newton_sqrt(cap=77), [40] * 7, ["header"])
    assert "for (pc_trips_" in text and "< 77;" in text and "break;" in text
    assert "stops after 77 iterations (its hard cap)" in text
    assert "PRECISEC_TRIPS(0, pc_trips_" in text


def test_the_noise_model_scans_to_the_most_trips_and_masks_finished_samples() -> None:
    """The scan runs as long as the longest sample; a sample that finished earlier keeps
    its values: the clean result is Newton's float64 result for every sample."""
    kernel = newton_sqrt()
    inputs = np.array([[1.0], [2.0], [999.0]])
    bounds = trip_bounds(kernel, inputs)
    assert bounds == {0: max(interpret.run(kernel, p, [53] * 7).trips[1] for p in inputs)}
    model = model_for(kernel, inputs=inputs)
    values = [float(model(x, np.ones(7), Taps(tuple(np.zeros(7))))[0]) for x in inputs]
    expected = [interpret.point_outputs(kernel, p, [53] * 7)[0] for p in inputs]
    assert values == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match="needs their bounds"):
        model_for(kernel)


def test_the_native_file_runs_the_loop_as_the_interpreter_with_casts_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Floats inside the body, doubles in the test: casts where the carried value
    changes format, the loop written once; the results are `interpret` with
    round_arguments at each format's precision (+ − × ÷ are correctly rounded)."""
    kernel = newton_sqrt()
    formats = [DOUBLE, DOUBLE, DOUBLE, FLOAT, FLOAT, FLOAT, DOUBLE]
    path = tmp_path / "newton.c"
    path.write_text(emit_native(kernel, formats, ["header"]))
    inputs = sample(kernel, 20, seed=5)
    run = run_tuned(path, kernel, inputs, native=True)
    bits = [f.bits for f in formats]
    expected = [interpret.point_outputs(kernel, p, bits, round_arguments=True) for p in inputs]
    assert np.array_equal(bits_of(run.outputs), bits_of(np.array(expected)))
    assert run.trips is not None
    assert [int(h) for h in run.trips] == [
        trace_hash(interpret.run(kernel, p, bits, round_arguments=True).trips) for p in inputs]


# -- the C frontend ----------------------------------------------------------------------------

NEWTON_C = """#pragma precisec range(a, 1, 1000)
double newton(double a)
{
    double g = a;
    while (fabs(g * g - a) > 1e-12 * a) {
        g = 0.5 * (g + a / g);
    }
    return g;
}
"""
NEWTON_FPCORE = """(FPCore newton (a) :pre (<= 1 a 1000)
 (while (> (fabs (- (* g g) a)) (* 1e-12 a)) ([g a (* 0.5 (+ g (/ a g)))]) g))"""


def test_a_c_while_loop_is_the_fpcore_while_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same Newton iteration in C and in FPCore: the same operations in the same
    order, the same results at any allocation, the same trip counts."""
    path = tmp_path / "newton.c"
    path.write_text(NEWTON_C)
    from_c = load_c(path)
    from_fpcore = parse_fpcore(NEWTON_FPCORE, "newton.fpcore")
    assert [s.op for s in from_c.sites] == [s.op for s in from_fpcore.sites]
    assert from_c.n_whiles == from_fpcore.n_whiles == 1
    for point, bits in (([2.0], [53] * 6), ([999.0], [20, 30, 40, 24, 25, 26]),
                        ([17.5], [8] * 6)):
        c_run, f_run = interpret.run(from_c, point, bits), interpret.run(from_fpcore, point, bits)
        assert c_run.results == f_run.results and c_run.trips == f_run.trips




def test_a_stated_cap_in_c_and_in_fpcore(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`#pragma precisec cap(N)` and `:precisec-cap N` state every while loop's cap: the
    same loop, the same trips at the cap, no refusal in the exact reference; bad values
    are located errors."""
    path = tmp_path / "newton.c"
    path.write_text("#pragma precisec cap(3)\n" + NEWTON_C)
    from_c = load_c(path)
    from_fpcore = parse_fpcore(NEWTON_FPCORE.replace(":pre", ":precisec-cap 3 :pre"), "n")
    for kernel in (from_c, from_fpcore):
        assert (the_while(kernel).cap, the_while(kernel).stated) == (3, True)
        assert interpret.run(kernel, [999.0], exact_bits=320).trips == [0, 3]
        with Evaluator(kernel) as evaluator:
            assert int(evaluator.exact(np.array([[999.0]])).trips[0]) == trace_hash([0, 3])
    assert not the_while(parse_fpcore(NEWTON_FPCORE, "n")).stated
    for pragma, message in (("cap(0)", "cap pragma takes 1 positive integer"),
                            ("cap(2.5)", "cap pragma takes 1 positive integer")):
        path.write_text(f"#pragma precisec {pragma}\n" + NEWTON_C)
        with pytest.raises(PrecisecError, match=message) as info:
            load_c(path)
        assert (info.value.loc.line, info.value.loc.col) == (1, 18)
    path.write_text("#pragma precisec cap(3)\n#pragma precisec cap(4)\n" + NEWTON_C)
    with pytest.raises(PrecisecError, match="second cap pragma"):
        load_c(path)
    with pytest.raises(PrecisecError, match="must be a positive integer") as info:
        parse_fpcore(NEWTON_FPCORE.replace(":pre", ":precisec-cap -1 :pre"), "n")
    assert (info.value.loc.line, info.value.loc.col) == (1, 34)

def test_a_for_loop_stepping_a_double_is_a_while_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`for (double k = 1; test; k = k + 1) body` is `while (test) { body; k = k + 1; }`:
    the same sites, results and trip counts (a data-dependent 12 to 28 terms here)."""
    loop = SERIES_C.replace("    double k = 1.0;\n    while (fabs(t) > 1e-17) {",
                                "    for (double k = 1.0; fabs(t) > 1e-17; k = k + 1.0) {")
    loop = loop.replace("        k = k + 1.0;\n", "")
    kernels = []
    for name, text in (("while.c", SERIES_C), ("for.c", loop)):
        (tmp_path / name).write_text(text)
        kernels.append(load_c(tmp_path / name))
    assert [s.op for s in kernels[0].sites] == [s.op for s in kernels[1].sites]
    trips = set()
    for point in ([-2.0], [0.1], [1.0], [1.999]):
        runs = [interpret.run(k, point, [30, 40, 35, 53]) for k in kernels]
        assert runs[0].results == runs[1].results and runs[0].trips == runs[1].trips
        trips.add(runs[0].trips[1])
    assert len(trips) > 2
