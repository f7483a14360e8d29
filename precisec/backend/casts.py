"""The format of every value of a native kernel, and its casts (docs/native.md, Casts).

A native kernel (`precisec.backend.native`) keeps each real value in one hardware format:
a site's value in the site's format; inputs, and literals outside sites, in the kernel's
C type; everything else by the MPFR backend's width rule (`cwalk.compute_widths`) mapped
to the narrowest covering format, so an exact operation computes in its widest argument's
format and a merged, carried or stored value in the widest format it receives.

A *cast* is one converted copy of a value: each distinct (value, format) pair that some
emitted statement reads in a format other than the value's own, the returned value
converted to the kernel's type, and an array parameter copied in from, or out to, the
kernel's type when its storage has another format. The emitter writes each scalar cast
once, as a named temporary right after the value is defined (for a loop-carried value,
at the top of each iteration), so statements reading a value in the same format share
it. The tuner counts and prices exactly these (`precisec.tune.typesearch`): a cast is at
the *boundary* when it converts an input on entry or a result on return, *interior*
otherwise, and runs `times` times per evaluation (loops multiply).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from precisec.backend.formats import Format, covering, kernel_format
from precisec.backend.storage import Precisions, array_groups, compute_widths, used_values
from precisec.ir.core import REAL, Atom, Cond, Eqn, Input, Kernel, Lit, Loop, Region, Var, While


@dataclass(frozen=True)
class Cast:
    """`value` converted to `fmt`; an array parameter's copy if `value` is an array."""

    value: Var
    fmt: Format
    boundary: bool
    times: int


class NativeTypes:
    """The formats of a kernel's values under one site assignment, and the casts they
    imply, found by the walk the emitter makes (same statements, same liveness)."""

    def __init__(self, kernel: Kernel, site_formats: Sequence[Format],
                 groups: dict[int, int] | None = None) -> None:
        if len(site_formats) != len(kernel.sites):
            raise ValueError(f"{len(site_formats)} formats for {len(kernel.sites)} sites")
        self.kernel = kernel
        self.site_formats = tuple(site_formats)
        self.base = kernel_format(kernel.precision)
        self.groups = array_groups(kernel) if groups is None else groups
        rule = Precisions(tuple(f.bits for f in self.site_formats), self.base.bits,
                          input_bits=self.base.bits, int_bits=self.base.bits)
        self.widths = compute_widths(kernel, self.groups, rule)
        self.used = used_values(kernel.body.stmts, kernel.body.results)
        self.found: dict[tuple[int, str], Cast] = {}
        self.scalar_casts: dict[int, list[Cast]] = {}
        self.times: dict[int, int] = {}
        self.inputs: set[int] = set()
        self._scan()

    @property
    def casts(self) -> tuple[Cast, ...]:
        """Every cast, in the order the walk meets them."""
        return tuple(self.found.values())

    def casts_of(self, var: Var) -> list[Cast]:
        """The casts of one scalar value (the temporaries the emitter writes after it)."""
        return self.scalar_casts.get(id(var), [])

    def format_of(self, atom: Atom) -> Format:
        if isinstance(atom, Lit):
            return self.base
        if atom.shape:
            return covering(self.widths.groups[self.groups[id(atom)]])
        return covering(self.widths.scalars[id(atom)])

    def site_format(self, eqn: Eqn) -> Format:
        """The format an arithmetic equation computes in."""
        return self.site_formats[eqn.site] if eqn.site is not None else self.format_of(eqn.out)

    def compare_format(self, eqn: Eqn) -> Format:
        """A comparison of reals compares in its wider argument's format."""
        return max((self.format_of(a) for a in eqn.args), key=lambda f: f.bits)

    # -- the walk ---------------------------------------------------------------------------
    def _need(self, atom: Atom, fmt: Format, returned: bool = False) -> None:
        if isinstance(atom, Lit) or self.format_of(atom) == fmt:
            return
        key = (id(atom), fmt.name)
        if key not in self.found:
            boundary = returned or id(atom) in self.inputs
            self.found[key] = Cast(atom, fmt, boundary, self.times[id(atom)])
            self.scalar_casts.setdefault(id(atom), []).append(self.found[key])

    def _scan(self) -> None:
        kernel = self.kernel
        for param, var in zip(kernel.params, kernel.body.params, strict=True):
            self.times[id(var)] = 1
            if isinstance(param, Input):
                self.inputs.add(id(var))
                if var.shape and self.format_of(var) != self.base:
                    self.found[(id(var), self.format_of(var).name)] = Cast(
                        var, self.format_of(var), True, var.size)
        self._region(kernel.body, 1)
        results = list(kernel.body.results)
        if kernel.returns:
            self._need(results.pop(0), self.base, returned=True)
        for result in results:
            assert isinstance(result, Var)
            if self.format_of(result) != self.base:
                self.found[(id(result), self.base.name)] = Cast(result, self.base, True,
                                                                result.size)

    def _region(self, region: Region, times: int) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                self._eqn(stmt, times)
            elif isinstance(stmt, Loop | While):
                self._loop(stmt, times)
            else:
                self._cond(stmt, times)

    def _eqn(self, eqn: Eqn, times: int) -> None:
        self.times[id(eqn.out)] = times
        kind = eqn.spec.kind
        if eqn.op == "store":
            self._need(eqn.args[-1], self.format_of(eqn.args[0]))
        elif kind == "arith":
            for arg in eqn.args:
                self._need(arg, self.site_format(eqn))
        elif kind == "compare" and eqn.args[0].type == REAL and id(eqn.out) in self.used:
            for arg in eqn.args:
                self._need(arg, self.compare_format(eqn))

    def _scalar(self, var: Var) -> bool:
        return var.type == REAL and not var.shape

    def _loop(self, loop: Loop | While, times: int) -> None:
        """A counted loop, or a while loop counted at its cap (its test's parameters are
        the carried variables)."""
        tests = loop.cond.params if isinstance(loop, While) else loop.carried
        live = [id(p) in self.used or id(t) in self.used or id(o) in self.used
                for p, t, o in zip(loop.carried, tests, loop.outs, strict=True)]
        for param, init, keep in zip(loop.carried, loop.init, live, strict=True):
            if keep and self._scalar(param):
                self._need(init, self.format_of(param))
        inner = times * (loop.cap if isinstance(loop, While) else loop.trips)
        regions = (loop.cond, loop.body) if isinstance(loop, While) else (loop.body,)
        for region in regions:
            for param in region.params:
                self.times[id(param)] = inner
            self._region(region, inner)
        for param, result, keep in zip(loop.carried, loop.body.results, live, strict=True):
            if keep and self._scalar(param) and result is not param:
                self._need(result, self.format_of(param))
        for out in loop.outs:
            self.times[id(out)] = times

    def _cond(self, cond: Cond, times: int) -> None:
        live = [id(o) in self.used and self._scalar(o) for o in cond.outs]
        for side in (cond.then, cond.other):
            self._region(side, times)
            for out, result, keep in zip(cond.outs, side.results, live, strict=True):
                if keep:
                    self._need(result, self.format_of(out))
        for out in cond.outs:
            self.times[id(out)] = times
