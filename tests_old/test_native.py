"""The native backend: formats, casts, bit-exact emulation, type search, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gmpy2
import numpy as np
import pytest

from precisec import pipeline
from precisec.backend.native import emit_native, hex_literal
from precisec.cli import main
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.native import (
    DOUBLE,
    FLOAT,
    FLOAT128,
    FORMATS,
    LONG_DOUBLE,
    CostModel,
    available_formats,
    count_casts,
    emulate_native,
    snap,
    uniform,
)
from precisec.native_tune import tune_native, verify_text
from precisec.pipeline import Sample, validation_seed
from precisec.toolchain import build_native

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks_fptuner"
KERNELS = sorted(p.stem for p in BENCHMARKS.glob("*.c"))
SAMPLES = 4000

FMA_SQRT = """\
#include <math.h>
#pragma precisec range(x, 0.5, 4.0)
#pragma precisec range(y, -2.0, 3.0)
#pragma precisec rmse(1e-10)
double fsq(double x, double y) {
    return fma(sqrt(x), y, 0.1) / (x + 1.3) - sqrt(y * y + x);
}
"""

MATH = """\
#include <math.h>
#pragma precisec range(x, 0.1, 2.0)
#pragma precisec rmse(1e-6)
double mathk(double x) {
    return exp(x) * sin(x) + log1p(x) / cbrt(x + 2.0);
}
"""


def kernel(name: str):
    return load_c(str(BENCHMARKS / f"{name}.c"), None)


def written(tmp_path: Path, name: str, text: str):
    path = tmp_path / f"{name}.c"
    path.write_text(text)
    return load_c(str(path), None)


def compiled(k, assignment, inputs: np.ndarray, tmp_path: Path) -> np.ndarray:
    source = tmp_path / f"{k.name}_native.c"
    source.write_text(emit_native(k, assignment, ["test"]))
    built = build_native(source, k)  # -std=c11 -O2 -Wall -Wextra -Werror
    try:
        return built.run(inputs)
    finally:
        built.directory.cleanup()


def test_formats_on_x86_64() -> None:
    assert available_formats() == FORMATS
    assert [f.bits for f in FORMATS] == [24, 53, 64, 113]


def test_snap_takes_the_cheapest_covering_format() -> None:
    k = kernel("verhulst")
    ops = k.rounding_ops
    for bits, fmt in [(2, FLOAT), (24, FLOAT), (25, DOUBLE), (53, DOUBLE), (54, LONG_DOUBLE),
                      (64, LONG_DOUBLE), (65, FLOAT128), (113, FLOAT128)]:
        assert snap(k, dict.fromkeys(ops, bits)) == dict.fromkeys(ops, fmt)
    with pytest.raises(PrecisecError, match="more than any hardware format"):
        snap(k, dict.fromkeys(ops, 114))


@pytest.mark.parametrize("text", ["0.1", "1.11", "-331.4", "5040.0", "1e-300", "3", "0.0"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_literals_are_the_correctly_rounded_value(text: str, fmt) -> None:
    literal = hex_literal(text, fmt).split(" /*")[0].strip("()")
    assert literal.endswith(fmt.literal_suffix)
    body = literal[: len(literal) - len(fmt.literal_suffix)]
    value = gmpy2.mpfr(0) if "0x0p" in body else _parse_hex(body)
    assert value == gmpy2.mpfr(text, fmt.bits)


def _parse_hex(body: str):
    sign = -1 if body.startswith("-") else 1
    mantissa, exponent = body.lstrip("-")[2:].split("p")
    with gmpy2.context(precision=200):
        return sign * gmpy2.mpfr(int(mantissa, 16)) * gmpy2.mpfr(2) ** int(exponent)


def test_cast_count() -> None:
    k = kernel("jet")
    assert count_casts(k, uniform(k, DOUBLE)) == 0
    # x1 and x2 converted once each, the result once back to double
    assert count_casts(k, uniform(k, FLOAT)) == 3
    mixed = {**uniform(k, DOUBLE), k.rounding_ops[0]: FLOAT}
    # x1 to float, and the float product to double for its consumers
    assert count_casts(k, mixed) == 2


@pytest.mark.parametrize("name", ["verhulst", "sine", "jet", "doppler1", "turbine1"])
def test_native_arithmetic_is_bit_exact_against_the_emulator(name: str, tmp_path: Path) -> None:
    """+ - * / with casts and constants: compiled results equal the emulator's at
    24/53/64/113 bits, uniformly and in random mixtures."""
    k = kernel(name)
    inputs = Sample.draw(k, 2000, 11).inputs
    rng = np.random.default_rng(7)
    assignments = [uniform(k, f) for f in FORMATS]
    assignments += [{i: FORMATS[int(rng.integers(n))] for i in k.rounding_ops}
                    for n in (2, 2, 4, 4)]
    for assignment in assignments:
        np.testing.assert_array_equal(compiled(k, assignment, inputs, tmp_path),
                                      emulate_native(k, assignment, inputs))


def test_sqrt_and_fma_are_bit_exact_in_every_format(tmp_path: Path) -> None:
    k = written(tmp_path, "fsq", FMA_SQRT)
    inputs = Sample.draw(k, 4000, 3).inputs
    for fmt in FORMATS:
        np.testing.assert_array_equal(compiled(k, uniform(k, fmt), inputs, tmp_path),
                                      emulate_native(k, uniform(k, fmt), inputs))


def test_libm_functions_are_close_but_not_exact(tmp_path: Path) -> None:
    """exp, sin, log1p, cbrt from libm are not correctly rounded: the emulator is only
    an approximation, so their kernels are verified by measurement."""
    k = written(tmp_path, "mathk", MATH)
    sample = Sample.draw(k, 4000, 3)
    for fmt in (FLOAT, DOUBLE):
        native = sample.measure(compiled(k, uniform(k, fmt), sample.inputs, tmp_path)).rmse
        emulated = sample.measure(emulate_native(k, uniform(k, fmt), sample.inputs)).rmse
        assert native == pytest.approx(emulated, rel=0.2)
    result = tune_native(k, 1e-6, 0, SAMPLES, start="optimum")
    test = Sample.draw(k, SAMPLES, pipeline.test_seed(0))
    text = emit_native(k, result.search.assignment, ["t"])
    assert verify_text(k, text, test).measurement.rmse <= 1e-6


def _scale(k) -> float:
    return float(np.sqrt(np.mean(Sample.draw(k, SAMPLES, validation_seed(0)).reference.hi ** 2)))


@pytest.mark.parametrize("name", KERNELS)
def test_all_kernels_meet_table1_and_loose_targets(name: str) -> None:
    """Built with -Wall -Wextra -Werror and measured on a fresh sample (the check path)."""
    k = kernel(name)
    test = Sample.draw(k, SAMPLES, pipeline.test_seed(0))
    for target, cast in ((k.target_rmse, 4.0), (1e-4 * _scale(k), 1.0)):
        result = tune_native(k, target, 0, SAMPLES, start="optimum",
                             cost_model=CostModel(cast=cast))
        text = emit_native(k, result.search.assignment, ["t"])
        assert verify_text(k, text, test).measurement.rmse <= target
        if cast == 1.0:  # float is cheaper than double whatever the casts
            assert result.float_fraction > 0.5


def test_max_casts_is_respected() -> None:
    k = kernel("jet")
    target = 1e-4
    free = tune_native(k, target, 0, SAMPLES, start="optimum")
    for cap in (0, 1, 4):
        capped = tune_native(k, target, 0, SAMPLES, start="optimum", max_casts=cap)
        assert capped.search.casts <= cap
        assert capped.search.casts == count_casts(k, capped.search.assignment)
        assert capped.search.validation.accepts(target)
        assert capped.search.cost >= free.search.cost


def test_unreachable_under_the_cast_cap() -> None:
    k = kernel("verhulst")
    with pytest.raises(PrecisecError, match="at most 0 casts"):
        tune_native(k, 1e-17, 0, SAMPLES, start="optimum", max_casts=0)


def test_exact_search_on_a_small_kernel_matches_brute_force() -> None:
    """For verhulst (4 ops), the search's cost equals the cheapest accepted assignment over
    {float, double} found by emulating all 16."""
    from precisec.typesearch import all_assignments

    k = kernel("verhulst")
    target = 1e-9
    result = tune_native(k, target, 0, SAMPLES, start="optimum")
    assert result.search.method == "exact"
    sample = Sample.draw(k, SAMPLES, validation_seed(0))
    accepted = [a for a in all_assignments(k, (FLOAT, DOUBLE))
                if sample.measure(emulate_native(k, a, sample.inputs)).accepts(target)]
    assert result.search.cost == min(CostModel().cost(k, a) for a in accepted)


def test_cli_tune_native_then_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "verhulst.native.c"
    src = str(BENCHMARKS / "verhulst.c")
    assert main(["tune", src, "--backend", "native", "-o", str(out), "--json",
                 "--samples", str(SAMPLES)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "native" and report["within_target"]
    assert report["casts"] == count_casts(kernel("verhulst"), {
        row["index"]: {f.name: f for f in FORMATS}[row["format"]]
        for row in report["operations"]})
    text = out.read_text()
    assert "mpfr" not in text and "double verhulst(double x)" in text
    assert main(["check", src, str(out), "--samples", str(SAMPLES)]) == 0
    assert "native backend" in capsys.readouterr().out


def test_cli_snapped_only_passes_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Snapping the bits up to formats, with no search, still meets the target."""
    src = str(BENCHMARKS / "sine.c")
    for target in ("8.73e-16", "1e-7"):
        out = tmp_path / f"sine_{target}.c"
        assert main(["tune", src, "--backend", "native", "--search", "snap", "--start",
                     "optimum", "--rmse", target, "-o", str(out), "--samples", str(SAMPLES)]) == 0
        assert main(["check", src, str(out), "--rmse", target, "--samples", str(SAMPLES)]) == 0
    capsys.readouterr()


def test_cli_max_casts_and_determinism(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = str(BENCHMARKS / "jet.c")
    texts = []
    for run in range(2):
        out = tmp_path / f"jet{run}.c"
        assert main(["tune", src, "--backend", "native", "--start", "optimum", "--rmse",
                     "1e-4", "--max-casts", "1", "-o", str(out), "--json",
                     "--samples", str(SAMPLES)]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["casts"] <= 1
        texts.append(out.read_text())
    assert texts[0] == texts[1]


def test_cflags_native(capsys: pytest.CaptureFixture) -> None:
    assert main(["cflags", "--backend", "native"]) == 0
    flags = capsys.readouterr().out.split()
    assert "-lquadmath" in flags and "-lm" in flags and "-ffp-contract=off" in flags
    assert not any("mpfr" in f for f in flags)


def test_cost_grows_with_precision() -> None:
    k = kernel("sine")
    costs = [CostModel().cost(k, uniform(k, f)) for f in FORMATS]
    assert costs == sorted(costs) and math.isfinite(costs[-1])


def test_unused_parameter_and_clashing_names_build(tmp_path: Path) -> None:
    k = written(tmp_path, "unused", """\
#pragma precisec range(x, 1, 2)
#pragma precisec range(t1, 0, 1)
#pragma precisec rmse(1e-3)
double unused(double x, double t1) {
    return -(x * 2.5) + 1.0 / x;
}
""")
    inputs = Sample.draw(k, 500, 1).inputs
    for fmt in FORMATS:
        np.testing.assert_array_equal(compiled(k, uniform(k, fmt), inputs, tmp_path),
                                      emulate_native(k, uniform(k, fmt), inputs))
