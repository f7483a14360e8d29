"""Command line: `precisec analyze | tune | check | table | list | cflags`.

Exit codes (docs/cli.md): 0 success, 1 ran but the target is missed, 2 bad input (one
`file:line:col: error:` line), 3 an internal error (a bug, reported as such; never a
traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from precisec import __version__
from precisec.backend.fast import FAST_MARK
from precisec.errors import PrecisecError, SourceLoc
from precisec.files import write_atomically
from precisec.frontend import read_source
from precisec.ir import Kernel
from precisec.report import (
    analysis_json,
    analysis_summary,
    bound_rows,
    extreme_notes,
    measurement_json,
    native_report,
    print_table,
    rows_text,
    stratified_notes,
    stratified_sites,
    target_json,
)
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import cflags_line
from precisec.tune.coverage import MIN_EXECUTIONS
from precisec.tune.samples import DEFAULT_SAMPLES, Sample, test_seed

# The flow and the tuner import JAX (most of a second): the commands that tune import them
# once the kernel is read, so `cflags`, `list` and refusals of bad input answer at once.
if TYPE_CHECKING:
    from precisec.tune.metrics import Target
    from precisec.tune.tuner import Tuning


def load_kernel(path: str, function: str | None) -> Kernel:
    """Read a kernel with the frontend its suffix names."""
    if path.endswith(".fpcore"):
        from precisec.frontend.fpcore import load_fpcore

        return load_fpcore(path, function)
    from precisec.frontend.c import load_c

    return load_c(path, function)


def kernel_and_target(args: argparse.Namespace) -> tuple[Kernel, Target]:
    """The kernel and its error target (--rmse, --relrmse or --bits, else the kernel's),
    read before the tuning modules are imported."""
    kernel = load_kernel(args.kernel, args.function)
    from precisec.tune.metrics import METRICS, Target
    from precisec.tune.tuner import require_target

    given = [Target(m, getattr(args, m)) for m in METRICS if getattr(args, m) is not None]
    maxerr = worst_case_target(args, kernel)
    if not given and kernel.target_rmse is None and maxerr is not None:
        given = [Target("rmse", maxerr)]  # a sound bound ≤ T implies RMSE ≤ T
    return kernel, require_target(kernel, given[0] if given else None)


def worst_case_target(args: argparse.Namespace, kernel: Kernel) -> float | None:
    """--maxerr, else the kernel's maxerr pragma (tune only)."""
    given = getattr(args, "maxerr", None)
    return given if given is not None else kernel.target_maxerr


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed_value(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def _target(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from err
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
    return value


def _analyze_without_target(args: argparse.Namespace, kernel: Kernel) -> int:
    """`analyze` of a kernel with no error target: everything that does not need one
    (per-site sensitivities, shares and coverage; the baseline's RMSE and max error).
    The analysis runs at a nominal target whose own figures are not printed."""
    from precisec import flow

    analysis = flow.analysis_of(kernel, 1.0, flow.Options(args.seed, args.samples))
    baseline = analysis.baseline
    if args.json:
        print(json.dumps({"kernel": kernel.name, "target_rmse": None,
                          "operations": [row.__dict__ for row in analysis.rows()],
                          "double_rmse": baseline.rmse,
                          "double_max_error": baseline.max_error}, indent=2))
        return 0
    print(f"{args.kernel}: {kernel.name}, {len(kernel.sites)} rounding operations, no error "
          f"target, {args.samples} inputs (seed {args.seed})")
    print("\n".join(rows_text(analysis, None)))
    print_table([(f"{kernel.precision} baseline RMSE", f"{baseline.rmse:.3e}"),
                  (f"{kernel.precision} baseline max error", f"{baseline.max_error:.3e}"),
                  ("smallest uniform precision, first-order optimum",
                   "need a target: #pragma precisec rmse(T) or --rmse T")])
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    kernel = load_kernel(args.kernel, args.function)
    given = [getattr(args, m, None) for m in ("rmse", "relrmse", "bits")]
    if kernel.target_rmse is None and all(g is None for g in given):
        return _analyze_without_target(args, kernel)
    kernel, target = kernel_and_target(args)
    from precisec import flow

    analysis = flow.analysis_of(kernel, target, flow.Options(args.seed, args.samples))
    all_double, optimum = flow.analysis_bounds(analysis)
    if args.json:
        print(json.dumps({**analysis_json(analysis),
                          "sound_bound_all_double": all_double.to_json(),
                          "sound_bound_first_order_optimum": optimum.to_json()}, indent=2))
        return 0
    print(f"{args.kernel}: {kernel.name}, {len(kernel.sites)} rounding operations, "
          f"target {target.name} {target.value:.3g}, {args.samples} inputs (seed {args.seed})")
    print("\n".join([*rows_text(analysis, None), *extreme_notes(args.kernel, analysis)]))
    print_table([*analysis_summary(analysis),
                  *bound_rows(all_double, None, f"all-{kernel.precision} sound bound"),
                  *bound_rows(optimum, None, "first-order optimum sound bound")])
    return 0


def default_output(kernel_path: str, emit: str = "c") -> Path:
    path = Path(kernel_path)
    return path.with_name(f"{path.stem}.tuned.{emit}")


def _output_path(args: argparse.Namespace) -> Path:
    """Where the tuned file goes, checked before any tuning: never the input, never a
    directory or special file; a symbolic link is written through (its target is
    replaced, the link stays); the directory must be writable."""
    output = Path(args.output) if args.output else default_output(args.kernel, args.emit)
    where = SourceLoc(str(output), 1, 1)
    if output.resolve() == Path(args.kernel).resolve():
        raise PrecisecError(SourceLoc(args.kernel, 1, 1),
                            "refusing to overwrite the input kernel with the tuned file")
    if output.is_symlink():
        output = output.resolve()
    if output.exists() and not output.is_file():
        kind = "a directory" if output.is_dir() else "not a regular file"
        raise PrecisecError(where, f"output is {kind}; give a file path with -o")
    if not output.parent.is_dir():
        raise PrecisecError(where, "output directory does not exist")
    if not os.access(output.parent, os.W_OK):
        raise PrecisecError(where, "output directory is not writable")
    return output


def _warn_unsampled(kernel_path: str, tuning: Tuning, args: argparse.Namespace) -> None:
    """One `file:line:col: warning:` line on stderr per site too few validation inputs
    execute, and per site of a branch condition (`precisec.tune.coverage`)."""
    analysis = tuning.analysis
    for k in tuning.conditions:
        site = analysis.kernel.sites[k]
        what = (f"tuned to {tuning.bits[k]} bits anyway (--tune-conditions)"
                if args.tune_conditions else
                f"kept at {tuning.bits[k]} bits (--tune-conditions tunes it anyway)")
        print(f"{kernel_path}:{site.loc.line}:{site.loc.col}: warning: '{site.op}' computes a "
              f"branch condition, where rounding can flip the branch; {what}", file=sys.stderr)
    if analysis.executions is None:
        return
    allowed = args.allow_unsampled
    total = analysis.baseline.count
    for k in tuning.unsampled:
        site = analysis.kernel.sites[k]
        what = (f"tuned to {tuning.bits[k]} bits anyway (--allow-unsampled)" if allowed else
                f"kept at {tuning.bits[k]} bits (--allow-unsampled tunes it anyway)")
        print(f"{kernel_path}:{site.loc.line}:{site.loc.col}: warning: '{site.op}' runs on "
              f"{int(analysis.executions[k])} of {total} validation inputs; {what}",
              file=sys.stderr)


def cmd_tune(args: argparse.Namespace) -> int:
    kernel, target = kernel_and_target(args)
    output = _output_path(args)
    from precisec import flow
    from precisec.tune.tuner import mean_bits

    options = flow.Options(args.seed, args.samples, args.backend, args.emit,
                           max_casts=args.max_casts, search=args.search, start=args.start,
                           cast_cost=args.cast_cost, allow_unsampled=args.allow_unsampled,
                           tune_conditions=args.tune_conditions)
    result = flow.run(kernel, target, args.kernel, options, worst_case_target(args, kernel))
    write_atomically(output, result.text)
    if result.tuning is not None:
        _warn_unsampled(args.kernel, result.tuning, args)
        for note in stratified_notes(args.kernel, result):
            print(note, file=sys.stderr)
    if result.search is not None:
        return native_report(args, result, output)
    tuning, measured = result.tuning, result.verification.measurement
    assert tuning is not None
    used = flow.budget_used(measured, target.value)
    name = target.name
    model = "RMSE" if target.metric == "rmse" else "relative RMSE"
    report = {
        **analysis_json(tuning.analysis, tuning.bits, used),
        "output": str(output),
        "seed": args.seed,
        "predicted_rmse": tuning.predicted_rmse,
        "measured": measurement_json(measured),
        "validation": measurement_json(tuning.refinement.validation),
        "mean_bits": tuning.mean_bits,
        "mapped_mean_bits": mean_bits(tuning.mapped_bits),
        "refinement_bits_added": tuning.refinement.bits_added,
        "refinement_bits_removed": tuning.refinement.bits_removed,
        "training_steps": tuning.training.steps,
        "training_converged": tuning.training.converged,
        "seconds": result.seconds,
        "within_target": result.within_target,
        "acceptance_rate": result.acceptance,
        "maxerr": result.maxerr,
        "sound_bound": None if result.bound is None else result.bound.to_json(),
        "stratified": stratified_sites(result),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.kernel}: {kernel.name}, {len(kernel.sites)} rounding operations, "
              f"target {name} {target.value:.3g}")
        print("\n".join(rows_text(tuning.analysis, tuning.bits, used)))
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items() if k != "total")
        print_table([
            (f"predicted {model} (noise model)", f"{tuning.predicted_rmse:.3e}"),
            (f"measured {name} (compiled C)", f"{target.format(measured.value)}  "
                                              f"({measured.count} test inputs, sample seed "
                                              f"{test_seed(args.seed)})"),
            ("max error", target.format(measured.max_error)),
            *([("inputs kept (rejection)", f"{result.acceptance:.2%} of those drawn")]
              if result.acceptance < 1 else []),
            ("mean bits", f"{tuning.mean_bits:.2f}  (model {report['mapped_mean_bits']:.2f}, "
                          f"refinement +{tuning.refinement.bits_added}/"
                          f"-{tuning.refinement.bits_removed} bits)"),
            ("first-order optimum mean bits", f"{tuning.analysis.optimum_mean_bits:.2f}"),
            *bound_rows(result.bound, result.maxerr),
            (f"{kernel.precision} baseline {name}",
             target.format(tuning.analysis.baseline.value)),
            ("time", f"{result.seconds['total']:.1f} s ({stages})"),
            ("wrote", f"{output}" + ("" if result.within_target else "  (TARGET MISSED)")),
        ])
    return 0 if result.within_target else 1


_BITS_COMMENT = re.compile(r"/\* \d+:\d+ \w+, (\d+) bits \*/")


def _tuned_text(path: Path) -> str:
    """A tuned file's text; a binary or non-UTF-8 file is refused before gcc sees it."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise PrecisecError(SourceLoc(str(path), line, 1),
                            "not a C source file (not UTF-8 text)") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise PrecisecError(SourceLoc(str(path), line, 1),
                            "not a C source file (it contains NUL bytes)")
    return text


def cmd_check(args: argparse.Namespace) -> int:
    kernel, target = kernel_and_target(args)
    tuned = Path(args.tuned)
    if not tuned.is_file():
        raise PrecisecError(SourceLoc(args.tuned, 1, 1), "no such file")
    from precisec import flow

    text = _tuned_text(tuned)
    native = "#include <mpfr.h>" not in text
    backend = "native" if native else "fast" if FAST_MARK in text else "mpfr"
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, args.samples, test_seed(args.seed),
                             metric=target.metric)
    verification = flow.verify_text(kernel, text, sample, native=native, source=tuned,
                                    timeout=args.timeout)
    measured = verification.measurement
    bits = [int(b) for b in _BITS_COMMENT.findall(text)]
    found = None
    if not native and len(bits) == len(kernel.sites):
        from precisec.semantics.bound import bound

        found = bound(kernel, bits)
    ok = measured.value <= target.value
    report = {"kernel": kernel.name, "tuned": str(tuned), **target_json(target),
              "backend": backend,
              "measured": measurement_json(measured), "seed": args.seed,
              "mean_bits": sum(bits) / len(bits) if bits else None, "within_target": ok,
              "sound_bound": None if found is None else found.to_json()}
    divergence = verification.branch_divergence
    if kernel.n_branches:
        report["branch_divergence"] = divergence
    trips = verification.trip_divergence
    if kernel.n_whiles:
        report["trip_divergence"] = trips
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table([
            ("kernel", f"{kernel.name} ({args.kernel})"),
            ("tuned file", f"{tuned} ({backend} backend)"),
            (f"target {target.name}", target.format(target.value)),
            (f"measured {target.name} (compiled C)", f"{target.format(measured.value)}  "
                                                     f"({measured.count} inputs, sample seed "
                                                     f"{test_seed(args.seed)})"),
            ("max error", target.format(measured.max_error)),
            ("mean bits", "unknown" if not bits else f"{sum(bits) / len(bits):.2f}"),
            ("sound bound", "none (native backend or no per-operation bits in the file)"
             if found is None else found.describe()),
            *([("branch divergence", "unknown (no trace hook in the tuned file)"
                if divergence is None else f"{divergence:.2%} of inputs took another branch "
                "path than the exact program")] if kernel.n_branches else []),
            *([("trip divergence", "unknown (no trip hook in the tuned file)"
                if trips is None else f"{trips:.2%} of inputs ran a while loop another number "
                "of times than the exact program")] if kernel.n_whiles else []),
            ("verdict", "within target" if ok else "TARGET MISSED"),
        ])
    return 0 if ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    from precisec.frontend.fpcore import read_fpcores

    entries = read_fpcores(read_source(args.file), args.file)
    if args.json:
        print(json.dumps([{"index": e.index, "name": e.name, "function": e.kernel_name,
                           "args": list(e.args), "supported": e.supported, "reason": e.reason,
                           "where": str(e.reason_loc) if e.reason_loc else None}
                          for e in entries], indent=2))
        return 0
    for e in entries:
        verdict = "supported" if e.supported else f"unsupported: {e.reason_loc}: {e.reason}"
        print(f"{e.index:3d}  {e.name:<40} ({' '.join(e.args)})  {verdict}")
    return 0


def cmd_cflags(args: argparse.Namespace) -> int:
    print(cflags_line(args.backend))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from precisec.table import run_table

    return run_table(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="precisec", description=(
        "Mixed-precision tuning of numerical C kernels: learn per-operation noise "
        "tolerances by SGD, emit MPFR C at per-operation precisions."))
    top.add_argument("--version", action="version", version=f"precisec {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def kernel_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("kernel", help="kernel file (.c or .fpcore)")
        sub.add_argument("--function", help="which function of the file is the kernel")
        targets = sub.add_mutually_exclusive_group()
        targets.add_argument("--rmse", type=_target, help="target RMSE (overrides the pragma)")
        targets.add_argument("--relrmse", type=_target,
                             help="target relative RMSE, RMS of (tuned - exact)/exact")
        targets.add_argument("--bits", type=_target,
                             help="target mean bits of error (Herbie's log2 of the ulp "
                                  "distance plus one)")
        sub.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
        sub.add_argument("--samples", type=positive_int, default=DEFAULT_SAMPLES,
                         help=f"inputs per sample (default {DEFAULT_SAMPLES})")
        sub.add_argument("--json", action="store_true", help="machine-readable report")
        return sub

    analyze_cmd = kernel_command("analyze", "sensitivities, double baseline, first-order optimum")
    analyze_cmd.set_defaults(run=cmd_analyze)
    tune_cmd = kernel_command("tune", "tune a kernel and write the MPFR C file")
    tune_cmd.add_argument("-o", "--output",
                          help="tuned file (default KERNEL.tuned.c, .tuned.fpcore or .tuned.h)")
    tune_cmd.add_argument("--emit", choices=("c", "fpcore", "h"), default="c",
                          help="write C (default), FPCore with precision annotations, or a "
                               "header of static inline functions (fast and native "
                               "backends); the allocation is verified by compiling C "
                               "either way")
    tune_cmd.add_argument("--backend", choices=("mpfr", "native", "fast"), default="mpfr",
                          help="mpfr: MPFR at per-operation bits (default); native: float, "
                               "double, long double, _Float128; fast: the MPFR file's "
                               "results in plain doubles (docs/fast.md)")
    tune_cmd.add_argument("--max-casts", type=seed_value, default=None, metavar="N",
                          help="native: at most N casts (conversions between formats)")
    tune_cmd.add_argument("--search", choices=("greedy", "snap"), default=None,
                          help="native: search the formats (default greedy) or only snap "
                               "bits up")
    tune_cmd.add_argument("--start", choices=("sgd", "optimum"), default=None,
                          help="native: starting bits from the SGD noise model and refinement "
                               "(default sgd) or the first-order optimum (faster)")
    tune_cmd.add_argument("--cast-cost", type=float, default=None, metavar="C",
                          help="native: cost of one interior cast (not an input's or the "
                               "result's), in float operations (default 4)")
    tune_cmd.add_argument("--allow-unsampled", action="store_true",
                          help=f"tune operations that fewer than {MIN_EXECUTIONS} validation "
                               "inputs execute "
                               "like the others (by default they keep the kernel's double or "
                               "float precision, with a warning)")
    tune_cmd.add_argument("--tune-conditions", action="store_true",
                          help="tune the operations that compute branch conditions like the "
                               "others (by default they keep the kernel's double or float "
                               "precision, with a warning: rounding there can flip a branch)")
    tune_cmd.add_argument("--maxerr", type=_target, default=None, metavar="T",
                          help="worst-case target: the sound bound on the absolute error "
                               "over the input box must be <= T (overrides the pragma; met "
                               "together with the RMSE target if there is one)")
    tune_cmd.set_defaults(run=cmd_tune)
    check_cmd = kernel_command("check", "compile and run a tuned file against the exact "
                                        "reference")
    check_cmd.add_argument("tuned", help="the tuned C file")
    check_cmd.add_argument("--timeout", type=_target, default=None, metavar="SECONDS",
                           help="stop the tuned program after SECONDS (default 60 s plus "
                                "2 us per dynamic rounding operation of the run)")
    check_cmd.set_defaults(run=cmd_check)
    table_cmd = commands.add_parser("table", help="regenerate Table 1 from benchmarks_fptuner/")
    table_cmd.add_argument("--out", default="docs", help="output directory (default docs)")
    engine = table_cmd.add_mutually_exclusive_group()
    engine.add_argument("--jobs", type=positive_int, default=1,
                        help="kernels run at once in local processes (default 1)")
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the kernels on the Dask cluster whose scheduler is at "
                             "ADDRESS (tcp://host:8786) instead of local processes")
    table_cmd.add_argument("--no-timings", dest="timings", action="store_false",
                           help="leave the seconds column empty, so that two runs write "
                                "byte-identical files")
    table_cmd.add_argument("--samples", type=positive_int, default=DEFAULT_SAMPLES)
    table_cmd.add_argument("--seed", type=seed_value, default=0)
    table_cmd.add_argument("--benchmarks", default="benchmarks_fptuner",
                           help="directory of kernels (default benchmarks_fptuner)")
    table_cmd.add_argument("--maxerr", action="store_true",
                           help="worst-case mode: tune each kernel so that its sound bound "
                                "meets FPTuner's bound; writes table1_maxerr.md/.json")
    table_cmd.set_defaults(run=cmd_table)
    list_cmd = commands.add_parser("list", help="list the FPCores of a file and whether each "
                                                "is supported")
    list_cmd.add_argument("file", help="an .fpcore file")
    list_cmd.add_argument("--json", action="store_true", help="machine-readable listing")
    list_cmd.set_defaults(run=cmd_list)
    cflags_cmd = commands.add_parser("cflags", help="print the flags that build a tuned file")
    cflags_cmd.add_argument("--backend", choices=("mpfr", "native", "fast"), default="mpfr")
    cflags_cmd.set_defaults(run=cmd_cflags)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except PrecisecError as err:
        print(err, file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"precisec: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`precisec tune k.c | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # the one place a bug becomes exit 3, never a traceback
        print(f"precisec: internal error: {type(err).__name__}: {err}\n"
              "precisec: this is a bug in precisec; please report it with the kernel file",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
