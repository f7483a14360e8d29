"""Table 1, regenerated: tune every FPTuner kernel, build and run the tuned C, compare.

Writes table1.md, table1.json, table1.csv and table1.png. Every "ours" figure is measured
by compiling the emitted C and running it on a fresh test sample against the exact
reference. The kernels run through `precisec.batch` (spawned local processes, or a Dask
cluster with `--scheduler`); every file is written atomically once all kernels are done, so
an interrupted or failed run leaves the previous table intact. A kernel that fails is
reported with its located error and no table is written (a table with a kernel missing is
not Table 1); the tuned files of the kernels that succeeded are written all the same.
Paths and kernel files are read before any work, so a missing one is a located error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from precisec import batch
from precisec.errors import PrecisecError, SourceLoc
from precisec.files import write_atomically
from precisec.frontend import read_source

PAPER_FILE = "table1_paper.json"


@dataclass(frozen=True)
class Row:
    """One kernel of the table."""

    benchmark: str
    operations: int
    fptuner_bound: float
    paper_rmse: float
    paper_mean_bits: float
    rmse: float
    max_error: float
    mean_bits: float
    predicted_rmse: float
    optimum_mean_bits: float
    uniform_bits: int | None
    double_rmse: float
    model_mean_bits: float
    refinement_bits_added: int
    refinement_bits_removed: int
    seconds: float | None
    """Wall-clock seconds for the kernel; None when the table is written without timings."""
    sound_bound: float | None = None
    """The tuned file's sound worst-case bound (docs/method.md §8); None: no bound."""
    double_sound_bound: float | None = None
    """The all-double allocation's sound bound, beside FPTuner's."""

    @property
    def within_target(self) -> bool:
        return self.rmse <= self.fptuner_bound

    @property
    def fewer_bits_than_paper(self) -> bool:
        return self.mean_bits < self.paper_mean_bits


def tune_row(kernel_path: str, source: str, paper: dict, samples: int,
             seed: int) -> tuple[Row, str]:
    """Tune one kernel (`source` is the text of `kernel_path`), verified by running its
    tuned C; its row and the tuned C text. The job carries the text and returns the
    tuned text, so on a cluster the workers need not see the client's files."""
    from precisec import flow
    from precisec.frontend.c import parse_c
    from precisec.semantics.bound import bound
    from precisec.tune.tuner import mean_bits

    started = time.perf_counter()
    kernel = parse_c(source, kernel_path)
    target = float(paper["fptuner_bound"])
    result = flow.run(kernel, target, kernel_path, flow.Options(seed, samples))
    double = bound(kernel, [kernel.baseline_bits] * len(kernel.sites))
    tuning, measured = result.tuning, result.verification.measurement
    row = Row(kernel.name, len(kernel.sites), target, float(paper["paper_rmse"]),
              float(paper["paper_mean_bits"]), measured.rmse, measured.max_error,
              tuning.mean_bits, tuning.predicted_rmse, tuning.analysis.optimum_mean_bits,
              tuning.analysis.uniform_bits, tuning.analysis.baseline.rmse,
              mean_bits(tuning.mapped_bits), tuning.refinement.bits_added,
              tuning.refinement.bits_removed, time.perf_counter() - started,
              None if result.bound is None else result.bound.value, double.value)
    return row, result.text


@dataclass(frozen=True)
class WorstRow:
    """One kernel of Table 1 in worst-case mode (`precisec table --maxerr`): tuned so that
    the sound bound meets T = FPTuner's bound (docs/method.md §9). `fptuner_mean_bits` is
    FPTuner's all-double allocation in MPFR's count (52 stored bits plus the leading one);
    `rmse_mean_bits` the RMSE-mode allocation at the same T; `max_error` is measured on
    the compiled C; `bits` is the allocation, per site."""

    benchmark: str
    operations: int
    maxerr: float
    sound_mean_bits: float
    fptuner_mean_bits: int
    rmse_mean_bits: float
    sound_bound: float | None
    max_error: float
    seconds: float | None
    bits: tuple[int, ...] = ()

    @property
    def within_target(self) -> bool:
        return self.sound_bound is not None and self.sound_bound <= self.maxerr

    @property
    def below_double(self) -> bool:
        return self.sound_mean_bits < self.fptuner_mean_bits


FPTUNER_BITS = 53


def tune_worst_row(kernel_path: str, source: str, paper: dict, samples: int,
                   seed: int) -> tuple[WorstRow, str]:
    """Tune one kernel to the worst-case target T = FPTuner's bound (the RMSE target T is
    then implied); its row and the tuned C text."""
    from precisec import flow
    from precisec.frontend.c import parse_c
    from precisec.tune.tuner import mean_bits

    started = time.perf_counter()
    kernel = parse_c(source, kernel_path)
    target = float(paper["fptuner_bound"])
    result = flow.run(kernel, target, kernel_path, flow.Options(seed, samples), maxerr=target)
    worst = result.worst_case
    assert worst is not None and worst.floor is not None and result.bound is not None
    row = WorstRow(kernel.name, len(kernel.sites), target, mean_bits(result.bits), FPTUNER_BITS,
                   mean_bits(worst.floor), result.bound.value,
                   result.verification.measurement.max_error, time.perf_counter() - started,
                   tuple(result.bits))
    return row, result.text


def write_worst_table(rows: list[WorstRow], out: Path, seed: int, samples: int) -> dict:
    """Write table1_maxerr.md and table1_maxerr.json, each atomically; return the summary."""
    summary = {"kernels": len(rows), "within_target": sum(r.within_target for r in rows),
               "below_double": sum(r.below_double for r in rows)}
    out.mkdir(parents=True, exist_ok=True)
    records = [{**asdict(r), "within_target": r.within_target, "below_double": r.below_double}
               for r in rows]
    write_atomically(out / "table1_maxerr.json", json.dumps(
        {"seed": seed, "samples": samples, "summary": summary, "rows": records}, indent=2) + "\n")
    lines = [
        "# Table 1 in worst-case mode",
        "",
        f"Regenerated by `precisec table --maxerr` (seed {seed}, {samples} inputs per sample). "
        "Each kernel is tuned so that its sound worst-case bound over the input box "
        "(docs/method.md §8, MPFR rounding model) is at most T, FPTuner's bound. FPTuner's "
        "allocation is all double: 53 bits in MPFR's count (52 stored plus the leading "
        "bit). \"RMSE-mode bits\" tune to an RMSE of T instead; \"max error\" is measured "
        "on the compiled C.",
        "",
        "| benchmark | ops | T (FPTuner bound) | sound-mode bits | FPTuner bits "
        "| RMSE-mode bits | sound bound reached | measured max error | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        seconds = "—" if r.seconds is None else f"{r.seconds:.1f}"
        lines.append(f"| {r.benchmark} | {r.operations} | {r.maxerr:.3g} "
                     f"| {r.sound_mean_bits:.2f} | {r.fptuner_mean_bits} "
                     f"| {r.rmse_mean_bits:.2f} | {_bound_cell(r.sound_bound)} "
                     f"| {r.max_error:.3g} | {seconds} |")
    lines += ["", f"**Summary:** sound bound ≤ T on {summary['within_target']} of "
                  f"{summary['kernels']} kernels; fewer mean bits than FPTuner's 53 on "
                  f"{summary['below_double']} of {summary['kernels']}.", ""]
    write_atomically(out / "table1_maxerr.md", "\n".join(lines))
    return summary


def _summary(rows: list[Row]) -> dict[str, float | int]:
    saved = [r.paper_mean_bits - r.mean_bits for r in rows]
    return {
        "kernels": len(rows),
        "within_target": sum(r.within_target for r in rows),
        "fewer_bits_than_paper": sum(r.fewer_bits_than_paper for r in rows),
        "mean_bits_saved_vs_paper": sum(saved) / len(saved) if saved else 0.0,
        "within_1_bit_of_optimum": sum(abs(r.mean_bits - r.optimum_mean_bits) <= 1.0
                                       for r in rows),
    }


def _markdown(rows: list[Row], summary: dict, seed: int, samples: int) -> str:
    lines = [
        "# Table 1, regenerated",
        "",
        f"Regenerated by `precisec table` (seed {seed}, {samples} test inputs per kernel). "
        "\"Ours\" columns are measured by compiling the emitted MPFR C with gcc and running it "
        "on a fresh test sample against the exact reference; the paper's columns are "
        "copied from Carbin, SNAPL 2019, Table 1.",
        "",
        "\"Our sound bound\" is the tuned file's sound worst-case bound and \"all-double "
        "sound bound\" that of every operation at 53 bits (docs/method.md §8).",
        "",
        "| benchmark | ops | FPTuner bound (target) | all-double sound bound | paper RMSE "
        "| paper bits | our RMSE | our max error | our sound bound | our bits "
        "| first-order optimum | uniform bits | double RMSE | model bits | refinement +/− "
        "| seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        uniform = "—" if r.uniform_bits is None else str(r.uniform_bits)
        seconds = "—" if r.seconds is None else f"{r.seconds:.1f}"
        lines.append(
            f"| {r.benchmark} | {r.operations} | {r.fptuner_bound:.3g} "
            f"| {_bound_cell(r.double_sound_bound)} | {r.paper_rmse:.3g} "
            f"| {r.paper_mean_bits:g} | {r.rmse:.3g} | {r.max_error:.3g} "
            f"| {_bound_cell(r.sound_bound)} | {r.mean_bits:.2f} "
            f"| {r.optimum_mean_bits:.2f} | {uniform} | {r.double_rmse:.3g} "
            f"| {r.model_mean_bits:.2f} | +{r.refinement_bits_added}/−"
            f"{r.refinement_bits_removed} | {seconds} |")
    lines += [
        "",
        f"**Summary:** {summary['within_target']} of {summary['kernels']} kernels within "
        f"target; {summary['fewer_bits_than_paper']} of {summary['kernels']} with fewer bits "
        f"than the paper; {summary['mean_bits_saved_vs_paper']:.2f} bits saved per operation "
        f"on average; {summary['within_1_bit_of_optimum']} of {summary['kernels']} within "
        "1 bit of the first-order optimum.",
        "",
        "![bits per kernel](table1.png)",
        "",
    ]
    return "\n".join(lines)


def _bound_cell(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"


def _plot(rows: list[Row]) -> bytes:
    """The bar chart as PNG bytes (deterministic: Agg writes no timestamp into a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r.benchmark for r in rows]
    x = np.arange(len(rows))
    width = 0.27
    fig, ax = plt.subplots(figsize=(12, 4.8), dpi=110)
    ax.bar(x - width, [r.paper_mean_bits for r in rows], width, label="paper (SNAPL 2019)",
           color="#b0b0b0")
    ax.bar(x, [r.mean_bits for r in rows], width, label="precisec (measured)", color="#2f6db3")
    ax.bar(x + width, [r.optimum_mean_bits for r in rows], width,
           label="first-order optimum", color="#8cc08c")
    ax.axhline(53, color="#c03030", linestyle="--", linewidth=1, label="double (53)")
    ax.set_xticks(x, names, rotation=40, ha="right")
    ax.set_ylabel("mean bits per rounding operation")
    low = min(min(r.optimum_mean_bits, r.mean_bits) for r in rows)
    ax.set_ylim(max(0.0, low - 5), 59)
    ax.set_title("Mean precision per kernel at the FPTuner bound (lower is better)")
    ax.legend(ncol=4, loc="upper center", fontsize=9)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    return png.getvalue()


def write_table(rows: list[Row], out: Path, seed: int, samples: int) -> dict:
    """Write the four table files, each atomically; return the summary."""
    summary = _summary(rows)
    out.mkdir(parents=True, exist_ok=True)
    records = [{**asdict(r), "within_target": r.within_target,
                "fewer_bits_than_paper": r.fewer_bits_than_paper} for r in rows]
    write_atomically(out / "table1.json", json.dumps(
        {"seed": seed, "samples": samples, "summary": summary, "rows": records}, indent=2) + "\n")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=[f.name for f in fields(Row)]
                            + ["within_target", "fewer_bits_than_paper"])
    writer.writeheader()
    writer.writerows(records)
    write_atomically(out / "table1.csv", text.getvalue())
    write_atomically(out / "table1.md", _markdown(rows, summary, seed, samples))
    write_atomically(out / "table1.png", _plot(rows))
    return summary


def checked_paths(args: argparse.Namespace) -> tuple[Path, list[dict], Path]:
    """The benchmarks directory, the paper's rows and the output directory, checked before
    any work: a missing directory or paper file, or an output that is not a directory,
    is a located error."""
    bench, out = Path(args.benchmarks), Path(args.out)
    paper_file = bench / PAPER_FILE
    if not bench.is_dir():
        raise PrecisecError(SourceLoc(str(bench), 1, 1), "benchmarks directory does not exist")
    if not paper_file.is_file():
        raise PrecisecError(SourceLoc(str(paper_file), 1, 1),
                            f"no {PAPER_FILE} (the paper's rows) in the benchmarks directory")
    try:
        papers = json.loads(paper_file.read_text())["rows"]
    except (ValueError, KeyError, TypeError) as err:
        raise PrecisecError(SourceLoc(str(paper_file), 1, 1),
                            f"not a table of the paper's rows: {err}") from err
    if not papers:
        raise PrecisecError(SourceLoc(str(paper_file), 1, 1), "the paper's table has no rows")
    for place in (out, out / "tuned"):
        if place.exists() and not place.is_dir():
            raise PrecisecError(SourceLoc(str(place), 1, 1),
                                "output is not a directory; give a directory with --out")
    return bench, papers, out


def run_table(args: argparse.Namespace) -> int:
    """`precisec table`: exit 1 if any kernel misses its target, 2 (3 for an internal
    error) if a kernel fails, after reporting every failure."""
    bench, papers, out = checked_paths(args)
    worst_case = getattr(args, "maxerr", False)
    started = time.perf_counter()
    paths = [str(bench / f"{p['benchmark']}.c") for p in papers]
    jobs = [(path, read_source(path), p, args.samples, args.seed)
            for path, p in zip(paths, papers, strict=True)]
    results = batch.run(tune_worst_row if worst_case else tune_row, jobs,
                        [p["benchmark"] for p in papers], workers=args.jobs,
                        scheduler=args.scheduler, what="kernels")
    tuned = [r for r in results if not isinstance(r, batch.Failure)]
    where = out / ("tuned_maxerr" if worst_case else "tuned")
    if tuned:
        where.mkdir(parents=True, exist_ok=True)
    for row, text in tuned:
        write_atomically(where / f"{row.benchmark}.tuned.c", text)
    failed = batch.failures(results)
    for failure in failed:
        print(failure, file=sys.stderr)
    if failed:
        print(f"Table 1: {len(failed)} of {len(jobs)} kernels failed; table not written",
              file=sys.stderr)
        return batch.exit_code(failed)
    rows = [row if args.timings else replace(row, seconds=None) for row, _ in tuned]
    if worst_case:
        summary = write_worst_table(rows, out, args.seed, args.samples)  # type: ignore[arg-type]
        print(f"Table 1 (worst case): sound bound <= T on {summary['within_target']}/"
              f"{summary['kernels']}, fewer bits than FPTuner's 53 on {summary['below_double']}/"
              f"{summary['kernels']}; {time.perf_counter() - started:.0f} s; "
              f"wrote {out}/table1_maxerr.md")
        return 0 if summary["within_target"] == summary["kernels"] else 1
    summary = write_table(rows, out, args.seed, args.samples)
    elapsed = time.perf_counter() - started
    print(f"Table 1: {summary['within_target']}/{summary['kernels']} within target, "
          f"{summary['fewer_bits_than_paper']}/{summary['kernels']} with fewer bits than the "
          f"paper, {summary['mean_bits_saved_vs_paper']:.2f} bits saved on average; "
          f"{elapsed:.0f} s; wrote {out}/table1.md")
    return 0 if summary["within_target"] == summary["kernels"] else 1
