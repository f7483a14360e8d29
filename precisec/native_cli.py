"""`precisec tune --backend native`: tune, search formats, emit, verify, report."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from precisec import __version__
from precisec.cli import (
    _measurement_json,
    _output_path,
    _print_table,
    _write_atomically,
    load_kernel,
)
from precisec.ir import Kernel, Op
from precisec.native import CostModel
from precisec.native_tune import (
    NativeTuning,
    emit_verified,
    format_counts,
    mean_format_bits,
    tune_native,
)
from precisec.pipeline import Verification, require_target, test_seed


def _header(kernel: Kernel, source: str, result: NativeTuning, target: float,
            verification: Verification | None) -> list[str]:
    measured = verification.measurement if verification is not None else None
    rmse = "pending" if measured is None else f"{measured.rmse:.3e}"
    max_error = "pending" if measured is None else f"{measured.max_error:.3e}"
    counts = ", ".join(f"{n} {name}" for name, n in format_counts(result).items())
    return [
        f"Tuned by precisec {__version__} from {Path(source).name} (kernel '{kernel.name}'), "
        "native backend.",
        f"target RMSE {target:.3e}; measured RMSE {rmse}, max error {max_error}",
        f"  (compiled C against the exact reference, {result.search.validation.count} fresh "
        f"inputs, sample seed {test_seed(result.seed)}).",
        f"formats: {counts}; {result.search.casts} casts; estimated cost "
        f"{result.search.cost:g}; search {result.search.method}; seed {result.seed}.",
        "+ - * / sqrt fma are correctly rounded IEEE operations; other libm functions are",
        "not correctly rounded, so only the measurement above vouches for them.",
        "Build: gcc -std=c11 -O2 app.c this_file.c $(precisec cflags --backend native)",
    ]


def _rows(kernel: Kernel, result: NativeTuning) -> list[dict]:
    rows = []
    for k, index in enumerate(kernel.rounding_ops):
        node = kernel.nodes[index]
        assert isinstance(node, Op)
        rows.append({"index": index, "line": node.loc.line, "col": node.loc.col,
                     "op": node.spec.name,
                     "sensitivity": float(result.analysis.sensitivities[k]),
                     "start_bits": result.start_bits[index],
                     "snapped": result.search.snapped[index].name,
                     "format": result.search.assignment[index].name,
                     "format_bits": result.search.assignment[index].bits})
    return rows


def cmd_tune_native(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    kernel = load_kernel(args.kernel, args.function)
    target = require_target(kernel, args.rmse)
    output = _output_path(args)
    result = tune_native(kernel, target, args.seed, args.samples, start=args.start,
                         method=args.search, max_casts=args.max_casts,
                         cost_model=CostModel(cast=args.cast_cost))
    text, verification = emit_verified(
        kernel, result, args.samples,
        lambda v: _header(kernel, args.kernel, result, target, v))
    _write_atomically(output, text)
    measured = verification.measurement
    ok = measured.rmse <= target
    search = result.search
    elapsed = time.perf_counter() - started
    report = {
        "kernel": kernel.name, "backend": "native", "target_rmse": target,
        "output": str(output), "seed": args.seed, "start": args.start, "search": search.method,
        "operations": _rows(kernel, result),
        "formats": format_counts(result), "float_fraction": result.float_fraction,
        "mean_format_bits": mean_format_bits(result),
        "casts": search.casts, "max_casts": args.max_casts, "estimated_cost": search.cost,
        "snapped_validation": _measurement_json(search.snapped_validation),
        "validation": _measurement_json(search.validation),
        "measured": _measurement_json(measured),
        "emulations": search.emulations,
        "seconds": {**result.seconds, "verification": verification.seconds,
                    "total": elapsed},
        "within_target": ok,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if ok else 1
    print(f"{args.kernel}: {kernel.name}, {len(kernel.rounding_ops)} rounding operations, "
          f"target RMSE {target:.3g}, native backend")
    print(f"  {'line:col':<10}{'op':<8}{'sensitivity':>13}{'bits':>6}  {'snapped':<13}format")
    for row in report["operations"]:
        place = f"{row['line']}:{row['col']}"
        print(f"  {place:<10}{row['op']:<8}{row['sensitivity']:>13.3e}"
              f"{row['start_bits']:>6}  {row['snapped']:<13}{row['format']}")
    counts = ", ".join(f"{n} {name}" for name, n in report["formats"].items())
    stages = ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items() if k != "total")
    _print_table([
        ("snapped-up RMSE (emulated)", f"{search.snapped_validation.rmse:.3e}  (validation)"),
        ("searched RMSE (emulated)", f"{search.validation.rmse:.3e}  (validation, "
                                     f"{search.emulations} assignments emulated)"),
        ("measured RMSE (compiled C)", f"{measured.rmse:.3e}  ({measured.count} test inputs, "
                                       f"sample seed {test_seed(args.seed)})"),
        ("max error", f"{measured.max_error:.3e}"),
        ("formats", f"{counts}  ({result.float_fraction:.0%} float, search {search.method})"),
        ("casts", f"{search.casts}" + ("" if args.max_casts is None
                                       else f"  (at most {args.max_casts})")),
        ("estimated cost", f"{search.cost:g}"),
        ("time", f"{elapsed:.1f} s ({stages})"),
        ("wrote", f"{output}" + ("" if ok else "  (TARGET MISSED)")),
    ])
    return 0 if ok else 1
