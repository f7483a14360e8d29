"""The command line's reports: the text rows, summary tables and JSON objects that
`precisec analyze | tune | check` print from an Analysis, a Result or a Measurement."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from precisec.tune.refine import Measurement
from precisec.tune.samples import test_seed

if TYPE_CHECKING:
    from precisec import flow
    from precisec.semantics.bound import Bound
    from precisec.tune.metrics import Target
    from precisec.tune.tuner import Analysis, OperationRow


def measurement_json(m: Measurement) -> dict[str, float | int | str]:
    """The measurement; `rmse` is there under the RMSE metric, `value` always."""
    figures: dict[str, float | int | str] = {"rmse": m.rmse} if m.metric == "rmse" else {}
    return {**figures, "metric": m.metric, "value": m.value, "max_error": m.max_error,
            "samples": m.count}


def target_json(goal: Target) -> dict[str, object]:
    return {**({"target_rmse": goal.value} if goal.metric == "rmse" else {}),
            "target": {"metric": goal.metric, "value": goal.value}}


def rows_text(analysis: Analysis, bits: tuple[int, ...] | None,
               budget_used: float = 1.0) -> list[str]:
    header = f"  {'line:col':<10}{'op':<8}{'sensitivity':>13}{'double share':>14}"
    if bits is not None:
        header += f"{'bits':>6}{'budget share':>14}"
    header += f"{'executed':>10}"
    lines = [header]
    for row in analysis.rows(bits, budget_used):
        text = (f"  {f'{row.line}:{row.col}':<10}{row.op:<8}{sensitivity_text(row):>13}"
                f"{row.double_share:>13.1%} ")
        if row.bits is not None and row.budget_share is not None:
            text += f"{row.bits:>6}{row.budget_share:>13.1%} "
        if row.executed is not None:
            text += f"{executed_text(row.executed):>9} "
        lines.append(text)
    return lines


def sensitivity_text(row: OperationRow) -> str:
    """The sensitivity as %.3e, from its log2 where it exceeds the double range."""
    if row.log2_sensitivity is None or math.isfinite(row.sensitivity):
        return f"{row.sensitivity:.3e}"
    if not math.isfinite(row.log2_sensitivity):
        return f"{0.0:.3e}"
    exponent = math.floor(row.log2_sensitivity * math.log10(2.0))
    mantissa = 10 ** (row.log2_sensitivity * math.log10(2.0) - exponent)
    if round(mantissa, 3) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.3f}e+{exponent}"


def extreme_notes(path: str, analysis: Analysis) -> list[str]:
    """A located note when the sensitivities are shown from log2 figures (`tune.extreme`)."""
    logs = analysis.log_sensitivities
    if logs is None:
        return []
    loc = analysis.kernel.loc
    return [f"{path}:{loc.line}:{loc.col}: note: sensitivities exceed the double range; "
            f"shown from their log2, computed on the {logs.used} of {logs.count} inputs "
            "with results below 2^1021 in magnitude and scaled by all inputs' mean square "
            "result"]


def operation_json(row: OperationRow) -> dict[str, object]:
    """A report row; a sensitivity beyond the double range is null, its log2 given."""
    fields = dict(row.__dict__)
    if not math.isfinite(row.sensitivity):
        fields["sensitivity"] = None
    return fields


def executed_text(share: float) -> str:
    """A share of the inputs in percent, or in scientific notation when below 0.05%
    (a stratified branch region: docs/method.md §4)."""
    return f"{share:.1e}" if 0 < share < 5e-4 else f"{share:.1%}"


def stratified_sites(result: flow.Result) -> list[dict[str, object]]:
    """The sites the plain validation draw ran too rarely and stratified inputs covered
    (`precisec.tune.strata`): how many validation inputs run each, the share of the input
    distribution estimated from them, its bits, and how many test inputs run it."""
    analysis, tuning = result.analysis, result.tuning
    if tuning is None or analysis.executions is None or analysis.shares is None:
        return []
    tests = result.verification.measurement.count
    return [{"site": k, "line": analysis.kernel.sites[k].loc.line,
             "col": analysis.kernel.sites[k].loc.col, "op": analysis.kernel.sites[k].op,
             "validation_inputs": int(analysis.executions[k]),
             "share": float(analysis.shares[k]), "bits": int(tuning.bits[k]),
             "test_inputs": None if result.test_executions is None
             else int(result.test_executions[k]), "test_samples": tests}
            for k in analysis.stratified if k not in tuning.unsampled]


def stratified_notes(path: str, result: flow.Result) -> list[str]:
    """One `file:line:col: note:` per site tuned on stratified inputs."""
    return [f"{path}:{row['line']}:{row['col']}: note: '{row['op']}' runs on "
            f"{executed_text(row['share'])} of the inputs (estimated); tuned to "  # type: ignore[arg-type]
            f"{row['bits']} bits on {row['validation_inputs']} stratified validation inputs "
            f"from the sub-boxes that reach it; {row['test_inputs']} of "
            f"{row['test_samples']} test inputs run it"
            for row in stratified_sites(result)]


def analysis_summary(analysis: Analysis) -> list[tuple[str, str]]:
    goal = analysis.goal
    return [
        (f"{analysis.kernel.precision} baseline {goal.name}",
         goal.format(analysis.baseline.value)),
        (f"{analysis.kernel.precision} baseline max error",
         goal.format(analysis.baseline.max_error)),
        ("smallest uniform precision", "none up to the maximum" if analysis.uniform_bits is None
         else f"{analysis.uniform_bits} bits"),
        ("first-order optimum mean bits", f"{analysis.optimum_mean_bits:.2f}"),
    ]


def bound_rows(found: Bound | None, maxerr: float | None, label: str = "sound bound"
                ) -> list[tuple[str, str]]:
    """The report rows of a sound bound (docs/method.md §8), and the worst-case target."""
    if found is None:
        return []
    rows = [(label, found.describe())]
    if maxerr is not None:
        met = found.value is not None and found.value <= maxerr
        rows.append(("target maxerr", f"{maxerr:.3e}  ({'met' if met else 'MISSED'} by the "
                                      "sound bound)"))
    return rows


def print_table(pairs: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        print(f"{key:<{width}}  {value}")


def analysis_json(analysis: Analysis, bits: tuple[int, ...] | None = None,
                   budget_used: float = 1.0) -> dict:
    baseline = analysis.baseline
    return {
        "kernel": analysis.kernel.name,
        **target_json(analysis.goal),
        "operations": [operation_json(row) for row in analysis.rows(bits, budget_used)],
        **({"double_rmse": baseline.rmse} if baseline.metric == "rmse" else
           {"double_error": baseline.value}),
        "double_max_error": baseline.max_error,
        "uniform_bits": analysis.uniform_bits,
        "first_order_optimum_mean_bits": analysis.optimum_mean_bits,
    }


def native_report(args: argparse.Namespace, result: flow.Result, output: Path) -> int:
    """`tune --backend native`: per-site formats, the search's measurements, casts, cost."""
    from precisec.tune.typesearch import format_counts

    search, kernel, options, goal = result.search, result.kernel, result.options, result.goal
    assert search is not None
    measured = result.verification.measurement
    counts = format_counts(search.formats)
    rows = [{"site": row.site, "line": row.line, "col": row.col, "op": row.op,
             "sensitivity": row.sensitivity, "start_bits": row.bits, "snapped": snapped.name,
             "format": fmt.name, "format_bits": fmt.bits}
            for row, snapped, fmt in zip(result.analysis.rows(result.bits), search.snapped,
                                         search.formats, strict=True)]
    report = {
        "kernel": kernel.name, "backend": "native", **target_json(result.goal),
        "output": str(output), "seed": args.seed, "start": options.native_start,
        "search": search.method, "operations": rows, "formats": counts,
        "float_fraction": search.float_fraction, "mean_format_bits": search.mean_format_bits,
        "casts": search.casts, "max_casts": options.max_casts,
        "estimated_cost": search.cost,
        "snapped_validation": measurement_json(search.snapped_validation),
        "validation": measurement_json(search.validation),
        "measured": measurement_json(measured), "emulations": search.emulations,
        "seconds": result.seconds, "within_target": result.within_target,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if result.within_target else 1
    print(f"{args.kernel}: {kernel.name}, {len(kernel.sites)} rounding operations, "
          f"target {goal.name} {result.target:.3g}, native backend")
    print(f"  {'line:col':<10}{'op':<8}{'sensitivity':>13}{'bits':>6}  {'snapped':<13}format")
    for row in rows:
        place = f"{row['line']}:{row['col']}"
        print(f"  {place:<10}{row['op']:<8}{row['sensitivity']:>13.3e}"
              f"{row['start_bits']:>6}  {row['snapped']:<13}{row['format']}")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items() if k != "total")
    print_table([
        (f"snapped-up {goal.name} (emulated)",
         f"{goal.format(search.snapped_validation.value)}  (validation)"),
        (f"searched {goal.name} (emulated)", f"{goal.format(search.validation.value)}  "
                                             f"(validation, {search.emulations} assignments "
                                             "emulated)"),
        (f"measured {goal.name} (compiled C)", f"{goal.format(measured.value)}  "
                                               f"({measured.count} test inputs, sample seed "
                                               f"{test_seed(args.seed)})"),
        ("max error", goal.format(measured.max_error)),
        ("formats", ", ".join(f"{n} {name}" for name, n in counts.items())
         + f"  ({search.float_fraction:.0%} float, search {search.method})"),
        ("casts", f"{search.casts}" + ("" if options.max_casts is None
                                       else f"  (at most {options.max_casts})")),
        ("estimated cost", f"{search.cost:g}"),
        ("time", f"{result.seconds['total']:.1f} s ({stages})"),
        ("wrote", f"{output}" + ("" if result.within_target else "  (TARGET MISSED)")),
    ])
    return 0 if result.within_target else 1
