"""Compiled evaluation: the exact reference and precision emulation as one C program.

This is `precisec.semantics.interpret` (the defining semantics, docs/method.md §1) at C
speed (§5). The kernel is written once, by the shared C walker in the MPFR dialect, with
every precision read at run time from a table, so one build per kernel serves the exact
reference at any working precision and the emulation of every allocation; its cost is
linear in the dynamic operations and its memory independent of them. A driver `main`
streams the samples of an input file through the kernel and writes each sample's results
(and branch-decision and trip-count hashes) to a results file; the samples are split
over worker processes.

Emulation is bit for bit `interpret.point_outputs` (and the hash of `interpret.run`'s
trace, `precisec.toolchain.trace_hash`). An emulation whose sites all have 2..53 bits runs
a second kernel written in doubles (`precisec.backend.cdouble`, several times faster),
and any sample whose values leave the range where doubles are exact is recomputed with
the MPFR kernel. The exact reference is `interpret.run` with
`exact_bits` as double-double (hi + lo), and checks itself: every sample is recomputed at
1.5 times the precision, and samples whose results, decisions or while-loop trip counts
move are escalated until two precisions agree, up to `MAX_BITS`. A while loop under the
default cap that reaches it in the exact reference stops the program at that sample
(docs/method.md §1), so a loop that does not finish is refused after one sample's
iterations, not the whole sample's.

It stays one module (just over ~500 lines): the program's writer and the `Evaluator` that
runs it share one file layout (inputs, precision table, results and hashes), which is
clearest read in one place.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from precisec.backend.cdouble import HELPERS_C, DoubleDialect
from precisec.backend.cwalk import Walker
from precisec.backend.mpfr import MpfrDialect, Slot, bind_parameters
from precisec.backend.storage import Precisions, array_groups, compute_widths
from precisec.errors import PrecisecError
from precisec.ir.core import Atom, Eqn, Input, Kernel, While, walk
from precisec.toolchain import (
    BRANCH_HASH_C,
    TRIPS_HASH_C,
    Emulation,
    ProgramFailed,
    compile_c,
    read_rows,
    run_programs,
)

REFERENCE_BITS = 320
MAX_BITS = 4096
ESCALATION = 1.5
# gcc's -O1 time grows faster than linearly in a function's size, so the kernel body is
# split into functions of about PART_LINES lines where it can be (`Walker.cuts`), and a
# body with a part longer than O1_LINES (a huge loop body) is built at -O0.
EVALUATOR_FLAGS = ("-std=c11", "-ffp-contract=off", "-w")
PART_LINES = 300
O1_LINES = 3000
# The double kernel keeps its values in C locals (registers), so it cannot be split; past
# DOUBLE_LINES lines (about 500 sites) its compile time outweighs what it saves, and
# emulation stays with MPFR.
DOUBLE_LINES = 1200
# The precision table: exact, round_arguments, result bits, widest, literal bits, fast;
# then one precision per MPFR slot, then the bits of each site (for the double kernel).
_HEADER = 6

_PRELUDE = """\
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <mpfr.h>
{hash}uint64_t pc_branch_hash;
{trips}uint64_t pc_trip_hash;
#undef PRECISEC_TRIPS
#define PRECISEC_TRIPS(w, n) (pc_capped((w), (n)), PC_TRIP_HASH(w, n))
{doubles}
static long pc_prec[{table}];
static long pc_exact, pc_round_arguments, pc_sample, pc_fast;
static mpfr_t pc_final, pc_residual;
static jmp_buf pc_jump;
static const long pc_default_caps[] = {{{caps}}};  /* 0: the loop's cap is stated */
static void pc_capped(int w, long n)
{{
    if (!pc_exact || pc_default_caps[w] == 0 || n < pc_default_caps[w]) return;
    fprintf(stderr, "precisec-cap %d %ld\\n", w, pc_sample);
    exit(3);
}}
static void pc_domain(int k, mpfr_srcptr v)
{{
    if (pc_exact == 2) longjmp(pc_jump, 1);  /* discarding: the sample's results are NaN */
    fprintf(stderr, "precisec-domain %d %ld %s\\n", k, pc_sample,
            mpfr_nan_p(v) ? "nan" : mpfr_sgn(v) > 0 ? "inf" : "-inf");
    exit(3);
}}

/* Inline functions: -O1 inlines them, -O0 (huge kernels) keeps them calls. */
static inline mpfr_srcptr pc_arg(mpfr_ptr s, mpfr_srcptr v)
{{
    if (!pc_round_arguments || mpfr_get_prec(v) <= mpfr_get_prec(s)) return v;
    mpfr_set(s, v, MPFR_RNDN);
    return s;
}}

static inline void pc_check(mpfr_srcptr v, int k)
{{
    if (pc_exact && !mpfr_number_p(v)) pc_domain(k, v);
}}

static void pc_result(mpfr_srcptr v, double *out)
{{
    if (pc_exact) {{
        out[0] = mpfr_get_d(v, MPFR_RNDN);
        mpfr_sub_d(pc_residual, v, out[0], MPFR_RNDN);
        out[1] = mpfr_get_d(pc_residual, MPFR_RNDN);
    }} else {{
        mpfr_set(pc_final, v, MPFR_RNDN);
        out[0] = mpfr_get_d(pc_final, MPFR_RNDN);
    }}
}}

/* The double kernel's state: site bits, literals, MPFR scratch for other functions. */
static int pc_bits[{sites}];
static double pc_lit[{literals}];
static mpfr_t pc_fres[{sites}], pc_farg[3], pc_flit;

static inline double pc_final_d(double v)
{{
    return pc_safe(pc_round_d(v, 0.0, (int) pc_prec[2]));
}}
"""

_MAIN = """\
static double pc_row[{row}];
static double pc_res[{res}];

/* One sample: by the double kernel if this emulation allows it and every value of the
   sample stays where doubles are exact, else by the MPFR kernel. */
static void pc_run(const double *pc_in, double *pc_out)
{{
    if (pc_fast) {{
        pc_unsafe = 0;
        for (int pc_k = 0; pc_k < {width}; pc_k++) pc_safe(pc_in[pc_k]);
        if (!pc_unsafe) pc_kernel_d(pc_in, pc_out);
        if (!pc_unsafe) return;
        pc_branch_hash = PC_HASH_START;
        pc_trip_hash = PC_HASH_START;
    }}
    pc_kernel(pc_in, pc_out);
}}

static void pc_setup_doubles(void)
{{
    for (int pc_k = 0; pc_k < {sites}; pc_k++) {{
        pc_bits[pc_k] = (int) pc_prec[{site_offset} + pc_k];
        mpfr_init2(pc_fres[pc_k], pc_bits[pc_k]);
    }}
    for (int pc_k = 0; pc_k < 3; pc_k++) mpfr_init2(pc_farg[pc_k], 53);
    mpfr_init2(pc_flit, 53);
    pc_unsafe = 0;
{literals}
    pc_fast = !pc_unsafe && FLT_EVAL_METHOD == 0;  /* no excess precision (x87) */
}}

static void pc_clear_doubles(void)
{{
    for (int pc_k = 0; pc_k < {sites}; pc_k++) mpfr_clear(pc_fres[pc_k]);
    for (int pc_k = 0; pc_k < 3; pc_k++) mpfr_clear(pc_farg[pc_k]);
    mpfr_clear(pc_flit);
}}

int main(int argc, char **argv)
{{
    if (argc != 6) return 2;
    FILE *table = fopen(argv[1], "rb"), *in = fopen(argv[2], "rb"), *out = fopen(argv[5], "wb");
    if (table == NULL || in == NULL || out == NULL) return 2;
    if (fread(pc_prec, sizeof(long), {table}, table) != {table}) return 2;
    fclose(table);
    long first = atol(argv[3]), count = atol(argv[4]);
    pc_exact = pc_prec[0];
    pc_round_arguments = pc_prec[1];
    mpfr_init2(pc_final, pc_prec[2]);
    mpfr_init2(pc_residual, pc_prec[3]);
    const int doubles_ready = pc_prec[5] != 0;
    if (doubles_ready) pc_setup_doubles();
{setup}
    if (fseek(in, first * {width} * (long) sizeof(double), SEEK_SET) != 0) return 2;
    size_t doubles = pc_exact ? {results} * 2 : {results};
    for (long s = 0; s < count; s++) {{
        if (fread(pc_row, sizeof(double), {width}, in) != {width}) return 2;
        pc_sample = first + s;
        pc_branch_hash = PC_HASH_START;
        pc_trip_hash = PC_HASH_START;
        if (pc_exact != 2) pc_run(pc_row, pc_res);
        else if (setjmp(pc_jump) == 0) pc_run(pc_row, pc_res);
        else for (size_t pc_k = 0; pc_k < doubles; pc_k++) pc_res[pc_k] = NAN;
        if (fwrite(pc_res, sizeof(double), doubles, out) != doubles) return 4;
{hash_write}    }}
{teardown}
    if (doubles_ready) pc_clear_doubles();
    mpfr_clears(pc_final, pc_residual, (mpfr_ptr) 0);
    fclose(in);
    return fclose(out) == 0 ? 0 : 4;
}}
"""


@dataclass(frozen=True)
class Reference:
    """The real-number results as double-double: hi + lo, each (n, len(result_labels)),
    so `tuned − exact` is exact in numpy; per sample the branch-decision hash of the real
    program (None without branches); `bits`, the working precision finally used; per
    sample the trip-count hash of its while loops (None without)."""

    hi: np.ndarray
    lo: np.ndarray
    branches: np.ndarray | None
    bits: int
    trips: np.ndarray | None = None

    def errors(self, outputs: np.ndarray) -> np.ndarray:
        """outputs − exact, for outputs close to the exact values."""
        return (outputs - self.hi) - self.lo


@dataclass(frozen=True)
class _Program:
    source: str
    slots: list[Slot]  # in the order of the precision table
    numbers: list[Eqn]  # the equations pc_check reports, by number
    optimise: bool
    fast: bool  # whether the double kernel exists


def whiles(kernel: Kernel) -> list[While]:
    """The kernel's while loops by number."""
    return sorted((s for s in walk(kernel.body) if isinstance(s, While)),
                  key=lambda loop: loop.number)


def _parts(lines: list[str], cuts: list[int]) -> list[list[str]]:
    """The body's lines in runs of at least PART_LINES, split only at cuts."""
    parts, start = [], 0
    for cut in cuts:
        if cut - start >= PART_LINES:
            parts.append(lines[start:cut])
            start = cut
    return [*parts, lines[start:]]


def _results(kernel: Kernel, ref: Callable[[Atom], str], array: Callable[[Atom], str],
             write: Callable[[str, str], str]) -> list[str]:
    """The statements writing each result scalar (`write(value, offset)`)."""
    lines, offset = [], 0
    results = list(kernel.body.results)
    if kernel.returns:
        lines.append(write(ref(results.pop(0)), "0"))
        offset = 1
    for out, result in zip(kernel.outputs, results, strict=True):
        lines.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                     + write(f"{array(result)}[pc_k]", f"{offset} + pc_k"))
        offset += out.size
    return lines


def _mpfr_kernel(kernel: Kernel, groups: dict[int, int]
                 ) -> tuple[list[str], MpfrDialect, list[Eqn], int]:
    """The MPFR kernel `pc_kernel` (and its parts) with run-time precisions; its slots,
    the equations its checks number, and the length of its longest part."""
    dialect = MpfrDialect(lambda site: f"site {site}", pool="pc_pool", round_arguments=True,
                          check_finite=True)
    walker = Walker(kernel, dialect, groups)
    prologue = bind_parameters(
        walker, dialect, groups, "mpfr_set_d",
        lambda param, var, column: f"pc_in[{column} + pc_k]" if var.shape else f"pc_in[{column}]")
    walker.run()
    epilogue = ["const int pc_stride = pc_exact ? 2 : 1;", *_results(
        kernel, lambda atom: dialect.ref(walker, atom), walker.array,
        lambda value, at: f"pc_result({value}, pc_out + ({at}) * pc_stride);")]
    parts = _parts(walker.lines, walker.cuts)
    lines = [line for number, part in enumerate(parts)
             for line in (f"static __attribute__((noinline)) void pc_part{number}(void)",
                          "{", *part, "}", "")]
    lines += ["static void pc_kernel(const double *pc_in, double *pc_out)", "{",
              *(f"    {line}" for line in prologue),
              *(f"    pc_part{number}();" for number in range(len(parts))),
              *(f"    {line}" for line in epilogue), "}", ""]
    return lines, dialect, walker.numbers, max(map(len, parts))


def _double_kernel(kernel: Kernel, groups: dict[int, int]
                   ) -> tuple[list[str], DoubleDialect] | None:
    """The double kernel `pc_kernel_d`, or None if it would be too long (DOUBLE_LINES)."""
    dialect = DoubleDialect()
    walker = Walker(kernel, dialect, groups)
    prologue: list[str] = []
    position = 0
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        if not var.shape:
            walker.names[id(var)] = f"pc_in[{position}]"
            position += 1
            continue
        name = walker.reserve(f"pc_{'in' if isinstance(param, Input) else 'out'}_{param.name}")
        walker.storage[groups[id(var)]] = name
        value = f"pc_in[{position} + pc_k]" if isinstance(param, Input) else "0.0"
        prologue += [f"double {name}[{var.size}];",
                     f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {name}[pc_k] = {value};"]
        position += var.size if isinstance(param, Input) else 0
    walker.run()
    if len(walker.lines) > DOUBLE_LINES:
        return None
    epilogue = _results(kernel, lambda atom: dialect.ref(walker, atom), walker.array,
                        lambda value, at: f"pc_out[{at}] = pc_final_d({value});")
    return ["static void pc_kernel_d(const double *pc_in, double *pc_out)", "{",
            *(f"    {line}" for line in prologue), *walker.lines,
            *(f"    {line}" for line in epilogue), "}", ""], dialect


def _program(kernel: Kernel, groups: dict[int, int]) -> _Program:
    """The evaluator's C source: both kernels, the driver, the precision table's layout."""
    mpfr_lines, dialect, numbers, longest = _mpfr_kernel(kernel, groups)
    doubles = _double_kernel(kernel, groups)
    double_lines, literals = (doubles[0], doubles[1].literals) if doubles else (
        ["static void pc_kernel_d(const double *pc_in, double *pc_out)",
         "{", "    (void) pc_in; (void) pc_out;", "}", ""], {})
    pooled = [slot for slot in dialect.slots if slot.pooled]
    arrays = [slot for slot in dialect.slots if not slot.pooled]
    table = _HEADER + len(dialect.slots) + len(kernel.sites)
    setup = [f"for (int pc_k = 0; pc_k < {len(pooled)}; pc_k++) "
             f"mpfr_init2(pc_pool[pc_k], pc_prec[{_HEADER} + pc_k]);",
             *(f"for (int pc_k = 0; pc_k < {slot.size}; pc_k++) mpfr_init2({slot.name}[pc_k], "
               f"pc_prec[{_HEADER + len(pooled) + k}]);" for k, slot in enumerate(arrays)),
             *(f'mpfr_set_str({name}, "{text}", 10, MPFR_RNDN);'
               for name, text in dialect.literal_texts())]
    literal_lines = [
        f"    mpfr_set_prec(pc_flit, {'pc_prec[4]' if site is None else f'pc_bits[{site}]'});"
        f' mpfr_set_str(pc_flit, "{text}", 10, MPFR_RNDN); {name} = pc_from_mpfr(pc_flit);'
        for (text, site), name in literals.items()]
    hash_write = ("        if (fwrite(&pc_branch_hash, sizeof pc_branch_hash, 1, out) != 1) "
                  "return 4;\n") if kernel.n_branches else ""
    if kernel.n_whiles:
        hash_write += ("        if (fwrite(&pc_trip_hash, sizeof pc_trip_hash, 1, out) != 1) "
                       "return 4;\n")
    width, count = len(kernel.input_labels), len(kernel.result_labels)
    sites = max(len(kernel.sites), 1)
    source = "\n".join([
        _PRELUDE.format(hash=BRANCH_HASH_C, trips=TRIPS_HASH_C.replace(
                            "#define PRECISEC_TRIPS(", "#define PC_TRIP_HASH("),
                        doubles=HELPERS_C, table=table, sites=sites,
                        literals=max(len(literals), 1), caps=", ".join(
                            "0" if loop.stated else str(loop.cap) for loop in whiles(kernel))
                        or "0"),
        *dialect.declarations("static "), "", *mpfr_lines, *double_lines,
        _MAIN.format(table=table, row=max(width, 1), res=max(2 * count, 1), width=width,
                     results=count, sites=len(kernel.sites),
                     site_offset=_HEADER + len(dialect.slots),
                     literals="\n".join(literal_lines),
                     setup="\n".join(f"    {line}" for line in setup), hash_write=hash_write,
                     teardown="\n".join(f"    {line}" for line in dialect.clears()))])
    return _Program(source, pooled + arrays, numbers, longest <= O1_LINES, doubles is not None)


class Evaluator:
    """The kernel compiled once for exact and emulated evaluation (a context manager; the
    build directory goes on `close`)."""

    def __init__(self, kernel: Kernel, workers: int | None = None) -> None:
        self.kernel = kernel
        self.workers = max(1, workers or min(2, os.cpu_count() or 1))
        self.groups = array_groups(kernel)
        self._program = _program(kernel, self.groups)
        self._dir = tempfile.TemporaryDirectory(prefix="precisec-eval-")
        self._calls = itertools.count()
        workdir = Path(self._dir.name)
        source = workdir / "evaluator.c"
        source.write_text(self._program.source)
        self._executable = workdir / "evaluator"
        level = "-O1" if self._program.optimise else "-O0"
        compile_c([source], self._executable, flags=(*EVALUATOR_FLAGS, level), mpfr=True)

    @property
    def build_dir(self) -> Path:
        """Where the program was built (removed by `close`)."""
        return Path(self._dir.name)

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._dir.cleanup()

    # -- public evaluations -----------------------------------------------------------------
    def emulate(self, site_bits: Sequence[int], inputs: np.ndarray,
                round_arguments: bool = False) -> Emulation:
        """Outputs with site s rounding at site_bits[s] (`interpret.point_outputs`), and
        the branch and trip hashes; with `round_arguments`, arguments wider than their
        operation are rounded to it first (the native backend's casts)."""
        if any(b < 1 for b in site_bits):
            raise ValueError("precisions must be at least 1 bit")
        inputs = self._inputs(inputs)
        values, hashes = self._run(Precisions.emulation(self.kernel, site_bits), inputs,
                                   exact=False, round_arguments=round_arguments)
        return Emulation(values[:, :, 0], *self._split(hashes))

    def exact(self, inputs: np.ndarray, bits: int = REFERENCE_BITS,
              discard: bool = False) -> Reference:
        """The real-number results, checked by recomputation at higher precision; a
        non-finite result of any real operation is a PrecisecError at that operation,
        or with `discard` makes that sample's results NaN (samplers that reject such
        points, docs/method.md §6)."""
        inputs = self._inputs(inputs)
        level = bits
        values, hashes = self._run(Precisions.exact(self.kernel, level), inputs, exact=True,
                                   discard=discard)
        final, final_hashes = values.copy(), hashes.copy()
        pending = np.arange(len(inputs))
        used = bits
        while pending.size:
            if level >= MAX_BITS:
                raise PrecisecError(self.kernel.loc, "the exact reference is unstable: results "
                                    f"still move above {level} bits, at "
                                    f"{self._point(inputs[pending[0]])}")
            higher = math.ceil(level * ESCALATION)
            check, check_hashes = self._run(Precisions.exact(self.kernel, higher),
                                            inputs[pending], exact=True, discard=discard)
            agree = np.all(values.view("<u8") == check.view("<u8"), axis=(1, 2))
            agree &= np.all(hashes == check_hashes, axis=1)
            if agree.any():
                used = level
            final[pending[agree]] = values[agree]
            final_hashes[pending[agree]] = hashes[agree]
            pending, values, level = pending[~agree], check[~agree], higher
            hashes = check_hashes[~agree]
        if not discard:
            self._check_range(final[:, :, 0], inputs)
        branches, trips = self._split(final_hashes)
        return Reference(final[:, :, 0], final[:, :, 1], branches, used, trips)

    def _split(self, hashes: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The branch hashes and the trip hashes (None where the kernel has none)."""
        return (hashes[:, 0] if self.kernel.n_branches else None,
                hashes[:, 1] if self.kernel.n_whiles else None)

    def _check_range(self, results: np.ndarray, inputs: np.ndarray) -> None:
        """Refuse exact results that overflow the kernel's type: the real value exists
        (MPFR's exponent range is huge) but the tuned program's result cannot hold it, so
        no error can be measured there."""
        kind = np.float32 if self.kernel.precision == "float" else np.float64
        largest = float(np.finfo(kind).max)
        outside = ~np.all(np.abs(results) <= largest, axis=1)
        if np.any(outside):
            row = int(np.argmax(outside))
            raise PrecisecError(self.kernel.loc, f"the exact result overflows "
                                f"{self.kernel.precision} (beyond ±{largest:.4g}) at "
                                f"{self._point(inputs[row])}")

    # -- running the program ----------------------------------------------------------------
    def _inputs(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.ascontiguousarray(inputs, dtype="<f8")
        width = len(self.kernel.input_labels)
        if inputs.ndim != 2 or inputs.shape[1] != width:
            raise ValueError(f"inputs of shape {inputs.shape}, expected (n, {width})")
        return inputs

    def _point(self, row: np.ndarray) -> str:
        return ", ".join(f"{label}={float(v)!r}"
                         for label, v in zip(self.kernel.input_labels, row, strict=True))

    def _run(self, rule: Precisions, inputs: np.ndarray, *, exact: bool,
             round_arguments: bool = False, discard: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, the results (n, results, 2 if exact else 1) and the hashes (n, 2):
        branch decisions, while-loop trip counts (zero where the kernel has none)."""
        count, results = len(inputs), len(self.kernel.result_labels)
        per = 2 if exact else 1
        hashed, tripped = self.kernel.n_branches > 0, self.kernel.n_whiles > 0
        hashes = np.zeros((count, 2), dtype=np.uint64)
        if count == 0:
            return np.zeros((0, results, per)), hashes
        widths = compute_widths(self.kernel, self.groups, rule)
        precisions = [widths.bits(slot.key) for slot in self._program.slots]
        result_bits = rule.literal_bits if exact else self.kernel.baseline_bits
        widest = max([*precisions, result_bits, rule.input_bits])
        fast = self._program.fast and not exact and rule.literal_bits <= 53 and all(
            2 <= b <= 53 for b in rule.site_bits)
        table = np.array([2 if discard else int(exact), int(round_arguments), result_bits, widest,
                          rule.literal_bits, int(fast), *precisions, *rule.site_bits],
                         dtype=np.int64)
        call = next(self._calls)
        workdir = Path(self._dir.name)
        table_path, input_path = workdir / f"table{call}.bin", workdir / f"inputs{call}.bin"
        table.tofile(table_path)
        inputs.tofile(input_path)
        bounds = np.linspace(0, count, min(self.workers, count) + 1).astype(int)
        outputs = [workdir / f"results{call}_{k}.bin" for k in range(len(bounds) - 1)]
        commands = [[str(self._executable), str(table_path), str(input_path), str(first),
                     str(last - first), str(path)]
                    for first, last, path in zip(bounds[:-1], bounds[1:], outputs, strict=True)]
        try:
            run_programs(commands, timeout=None)
            rows = np.concatenate([read_rows(path, last - first, results * per, hashed, tripped)
                                   for first, last, path in zip(bounds[:-1], bounds[1:],
                                                                outputs, strict=True)])
        except ProgramFailed as failed:
            raise self._failure(failed, inputs) from None
        finally:
            for path in (table_path, input_path, *outputs):
                path.unlink(missing_ok=True)
        values = np.array(rows["values"]).reshape(count, results, per)
        if hashed:
            hashes[:, 0] = rows["hash"]
        if tripped:
            hashes[:, 1] = rows["trips"]
        return values, hashes

    def _failure(self, failed: ProgramFailed, inputs: np.ndarray) -> PrecisecError:
        words = failed.stderr.split()
        if failed.returncode == 3 and len(words) == 4 and words[0] == "precisec-domain":
            eqn = self._program.numbers[int(words[1])]
            point = self._point(inputs[int(words[2])])
            return PrecisecError(eqn.loc, f"'{eqn.op}' has a non-finite result ({words[3]}) on "
                                          f"the input domain, at {point}")
        if failed.returncode == 3 and len(words) == 3 and words[0] == "precisec-cap":
            loop = whiles(self.kernel)[int(words[1])]
            return PrecisecError(loop.loc, f"the while loop does not finish within its cap of "
                                 f"{loop.cap} iterations in the exact reference, at "
                                 f"{self._point(inputs[int(words[2])])}; bound the inputs "
                                 "that keep it running, or state a cap (FPCore "
                                 ":precisec-cap N, C #pragma precisec cap(N))")
        detail = f": {failed.stderr.strip()}" if failed.stderr.strip() else ""
        return PrecisecError(self.kernel.loc, f"the compiled evaluator {failed}{detail}")
