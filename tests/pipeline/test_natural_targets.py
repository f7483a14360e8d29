"""The corpus runner's natural target (benchmarks/fpbench_corpus.py): an RMSE 8x the
baseline's where the absolute error has a finite, nonzero scale, else Herbie's bits 3
above the baseline's: an exact result not finite somewhere on the domain, a baseline RMSE
that is not finite, exact results all 0."""

from __future__ import annotations

import importlib.util
import math
import sys
from types import ModuleType

import pytest
from helpers import ROOT


def corpus_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fpbench_corpus",
                                                  ROOT / "benchmarks" / "fpbench_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fpbench_corpus", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("text", "metric"), [
    ("(FPCore (x) :pre (<= 1 x 2) (* x 0.1))", "rmse"),
    # 1/x at the centre of (-1, 1): no RMSE over the domain, bits discard that point
    ("(FPCore (x) :pre (< -1 x 1) (/ 1 x))", "bits"),
    # x + 1e-8 rounds to x in float, so the float result is 1/0: an infinite RMSE
    ("(FPCore (x) :precision binary32 :pre (<= 1 x 2) (/ 1 (- (+ x 1e-8) x)))", "bits"),
    # exactly 0 everywhere: neither an RMSE nor a relative scale
    ("(FPCore (x) :pre (<= 1 x 2) (- x x))", "bits"),
])
def test_the_natural_target_falls_back_to_bits_without_an_absolute_scale(
        text: str, metric: str) -> None:
    runner = corpus_runner()
    _, target, double_error, zero_double = runner.natural_target(text, "t.fpcore", 0,
                                                                 300, 0)
    assert target.metric == metric and not zero_double
    assert math.isfinite(double_error) and math.isfinite(target.value)
    if metric == "bits":
        assert target.value == pytest.approx(double_error + runner.BITS_MARGIN)
    else:
        assert target.value == pytest.approx(runner.TARGET_FACTOR * double_error)
