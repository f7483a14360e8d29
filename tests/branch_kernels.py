"""Branch kernels whose conditions rounding can flip (shared by the tests of the flip model,
the tuning flow and the command line)."""

from __future__ import annotations

# x*x - x >= 0 on [0, 10]: the gap cancels near x = 1, where a rounded square flips the
# branch, a jump of 2 in the result.
NEAR_CANCELLING = """\
#pragma precisec range(x, 0, 10)
#pragma precisec rmse(1e-14)
double flip(double x) {
    double y;
    if (x * x - x >= 0.0) {
        y = x * 0.5 + 1.0;
    } else {
        y = x * 0.5 - 1.0;
    }
    return y;
}
"""
NEAR_CANCELLING_CONDITION = {"5:11", "5:15"}
"""line:col of its condition's operations: the square, then the subtraction."""

# x*x > 0.25 on [0, 1]: a jump of 2 at x = 0.5, where the gap's density is 1.
SQUARE = """\
#pragma precisec range(x, 0, 1)
double square(double x) {
    double y;
    if (x * x > 0.25) {
        y = x + 1.0;
    } else {
        y = x - 1.0;
    }
    return y;
}
"""
