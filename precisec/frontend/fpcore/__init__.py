"""FPCore frontend: FPBench's FPCore format (1.x and 2.0 syntax) to the IR.

The subset that fits the IR is accepted:

* `(FPCore name? (args...) props... body)`, arguments as symbols or `(! props... sym)`;
* `let`, `let*`, the operations of `precisec.ops` spelled by their `fpcore` name, unary
  `-` as negation, numbers (decimal, hexadecimal, rational, `(digits m e b)`) and the
  FPCore constants (`PI`, `E`, ...);
* `(! :precision binary64 expr)` annotations (`real` too: precisec tunes every operation,
  so the source precision only names the baseline); `:precision binary32` on the core
  makes a float kernel;
* `:pre` as a conjunction of constant bounds on each argument, which become the ranges;
* `:precisec-rmse T` as the target RMSE; every other property is kept as text for the
  FPCore emitter;
* `(if cond then else)` as a branch (`Cond`), conditions built from comparisons, `and`,
  `or`, `not`, `TRUE` and `FALSE`.

Everything else (loops, tensors, other precisions, ...) is a located `PrecisecError`
naming the construct. Constants in the IR are exact decimal text; a rational such as
`1/3` and the irrational constants have no finite decimal expansion and are kept correctly
rounded to 120 significant digits, far beyond the exact reference's working precision
(making `1/3` a division would add a rounding operation the source does not have).
Arguments whose FPCore names are not C identifiers get C names (`names`).

`parse_tuned_fpcore` reads the FPCore emitter's output back (`precisec.backend.fpcore`),
with the precision of every site.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend import read_source
from precisec.frontend.fpcore.build import ARGUMENT_NAMES_KEY, build_kernel
from precisec.frontend.fpcore.forms import Core, argument_label, split_core
from precisec.frontend.fpcore.reader import read_data
from precisec.ir.core import Kernel

__all__ = ["ARGUMENT_NAMES_KEY", "FPCoreEntry", "load_fpcore", "parse_fpcore",
           "parse_tuned_fpcore", "read_fpcores"]


@dataclass(frozen=True)
class FPCoreEntry:
    """One FPCore of a file: its names and arguments, and its kernel or why there is
    none (a located refusal)."""

    index: int
    name: str
    identifier: str | None
    kernel_name: str
    args: tuple[str, ...]
    loc: SourceLoc
    kernel: Kernel | None
    refusal: PrecisecError | None

    @property
    def supported(self) -> bool:
        return self.kernel is not None

    @property
    def reason(self) -> str | None:
        return self.refusal.message if self.refusal is not None else None

    @property
    def reason_loc(self) -> SourceLoc | None:
        return self.refusal.loc if self.refusal is not None else None


def read_fpcores(source: str, file: str) -> list[FPCoreEntry]:
    """Every FPCore of a file, each built (or refused with its reason)."""
    entries = []
    for index, datum in enumerate(read_data(source, file)):
        args: tuple[str, ...] = ()
        name, identifier, kernel_name = f"#{index}", None, f"fpcore_{index}"
        try:
            core = split_core(datum, index)
            identifier = core.identifier.name if core.identifier else None
            name, kernel_name = core.display_name, core.kernel_name
            args = tuple(argument_label(d) for d in core.arguments.items)
            kernel, _ = build_kernel(core)
        except PrecisecError as err:
            entries.append(FPCoreEntry(index, name, identifier, kernel_name, args, datum.loc,
                                       None, err))
        else:
            entries.append(FPCoreEntry(index, name, identifier, kernel_name, args, datum.loc,
                                       kernel, None))
    return entries


def _select(cores: Sequence[Core], file: str, function: str | None,
            index: int | None) -> Core:
    start = SourceLoc(file, 1, 1)
    listing = ", ".join(f"'{c.display_name}'" for c in cores) or "none"
    if not cores:
        raise PrecisecError(start, "no FPCore found")
    if index is not None:
        if not 0 <= index < len(cores):
            raise PrecisecError(start, f"no FPCore number {index} (the file has "
                                       f"{len(cores)}, numbered from 0)")
        core = cores[index]
        if function is not None and function not in core.names:
            raise PrecisecError(core.loc, f"FPCore number {index} is "
                                          f"'{core.display_name}', not '{function}'")
        return core
    if function is None:
        if len(cores) == 1:
            return cores[0]
        raise PrecisecError(cores[1].loc, f"several FPCores ({listing}); choose one with "
                                          "--function NAME")
    matches = [c for c in cores if function in c.names]
    if not matches:
        raise PrecisecError(start, f"no FPCore named '{function}' (found: {listing})")
    if len(matches) > 1:
        lines = ", ".join(str(c.loc.line) for c in matches)
        raise PrecisecError(matches[1].loc, f"several FPCores are named '{function}' (at "
                                            f"lines {lines}); choose one by index")
    return matches[0]


def _core(source: str, file: str, function: str | None, index: int | None) -> Core:
    cores = [split_core(datum, k) for k, datum in enumerate(read_data(source, file))]
    return _select(cores, file, function, index)


def parse_fpcore(source: str, file: str, function: str | None = None,
                 index: int | None = None) -> Kernel:
    """One FPCore of `source` (by :name, identifier or index) as a kernel."""
    return build_kernel(_core(source, file, function, index))[0]


def parse_tuned_fpcore(source: str, file: str, function: str | None = None,
                       index: int | None = None) -> tuple[Kernel, list[int]]:
    """An FPCore whose operations carry precision annotations (the emitter's output): the
    kernel and the bits of each site (53 where unannotated; 24 in a binary32 core)."""
    return build_kernel(_core(source, file, function, index), tuned=True)


def load_fpcore(path: str | Path, function: str | None = None,
                index: int | None = None) -> Kernel:
    """Read one FPCore of a file as a kernel."""
    return parse_fpcore(read_source(path), str(path), function, index)
