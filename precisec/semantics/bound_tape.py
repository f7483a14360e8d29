"""One evaluation of a kernel on a box of balls, and its adjoints (docs/method.md §8).

The forward pass runs the IR like the defining interpreter (`semantics.interpret`), with
python-flint `arb` balls for reals: every rounding at p bits is v + ε, ε a ball of radius
2^-p·2^⌊log2 sup|v|⌋, half an ulp of the largest binade v reaches (zero for the lower
estimate); a literal rounded at its consumer's precision is c + ε_c with |ε_c| its exact
rounding error; inputs are exact. Every node records its partial derivatives with
respect to its arguments, so one reverse pass per output gives ∂f/∂ε_j for every rounding
j, bounded over the whole box and over every ε between 0 and the roundings: the
mean-value form of the error.

A node's *width* bounds its significant bits at every point of the box; a product whose
width fits its precision (a multiplication by a power of two, say) does not round, as
MPFR's exponent range is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache

import gmpy2
from flint import arb, fmpq

from precisec.errors import SourceLoc
from precisec.ir.core import (
    BOOL,
    INT,
    REAL,
    Atom,
    Cond,
    Eqn,
    Kernel,
    Lit,
    Loop,
    Region,
    Var,
    While,
    walk,
)
from precisec.ir.walker import ARRAY_OPS, Env, RegionWalker
from precisec.semantics.bound_rules import ONE, OTHER_RULES, RULES


class Undecided(Exception):
    """A branch condition is undecided on the box (`occurrence` numbers it on the path)."""

    def __init__(self, occurrence: int) -> None:
        super().__init__(occurrence)
        self.occurrence = occurrence


class Undefined(Exception):
    """An operation is outside its domain or non-finite somewhere on the box."""

    def __init__(self, loc: SourceLoc, reason: str) -> None:
        super().__init__(f"{loc.line}:{loc.col}: {reason}")
        self.loc = loc
        self.reason = reason


class Unsupported(Exception):
    """A statement the bound does not model (while loops)."""


def refuse_unsupported(region: Region) -> None:
    """Unsupported for the first statement that is no equation, counted loop or branch."""
    for stmt in walk(region):
        if not isinstance(stmt, Eqn | Loop | Cond):
            raise Unsupported(unsupported_reason(stmt))


def unsupported_reason(stmt: object) -> str:
    return f"{type(stmt).__name__.lower()} statements have no bound"


@dataclass(frozen=True)
class Literal:
    """A real literal as the tuned program holds it: exact value, |c̃ − c|, width."""

    exact: arb
    error: arb | None  # None when the literal is exact at this precision
    width: int


@cache
def literal(text: str, bits: int) -> Literal:
    """`text` rounded to `bits` as the MPFR backend does (gmpy2.mpfr(text, bits))."""
    value = Fraction(Decimal(text))
    rounded = Fraction(*map(int, gmpy2.mpfr(text, bits).as_integer_ratio()))
    exact = arb(fmpq(value.numerator, value.denominator))
    width = significant_bits(rounded)
    if rounded == value:
        return Literal(exact, None, width)
    error = abs(rounded - value)
    return Literal(exact, arb(fmpq(error.numerator, error.denominator)).abs_upper(), width)


def significant_bits(value: Fraction) -> int:
    """Bits of the odd part of a dyadic rational's numerator (1 for 0 and powers of two)."""
    n = abs(value.numerator)
    return max(1, (n >> ((n & -n).bit_length() - 1)).bit_length()) if n else 1


@dataclass(frozen=True)
class Term:
    """A rounding: node `node` is v + ε, |ε| ≤ radius; its error term is
    sup |∂f/∂ε|·radius. `site` is None for a rounding that no site's bits control (a
    literal at the type precision, the final conversion)."""

    node: int
    radius: arb
    site: int | None


@dataclass
class Tape:
    """The forward pass: node values, widths and (argument, partial) links."""

    values: list[arb] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    links: list[tuple[tuple[int, arb], ...]] = field(default_factory=list)
    active: list[bool] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    forked: bool = False

    def leaf(self, value: arb, width: int) -> int:
        return self.node(value, width, ())

    def node(self, value: arb, width: int, links: tuple[tuple[int, arb], ...]) -> int:
        self.values.append(value)
        self.widths.append(width)
        self.links.append(links)
        self.active.append(bool(links))
        return len(self.values) - 1

    def rounding(self, pre: int, radius: arb, site: int | None, width: int,
                 zero_delta: bool) -> int:
        """v + ε of node `pre`, |ε| ≤ radius."""
        v = self.values[pre]
        links = ((pre, ONE),) if self.active[pre] else ()
        index = self.node(v if zero_delta else v + arb(0, radius), width, links)
        self.active[index] = True
        self.terms.append(Term(index, radius, site))
        return index

    def round_to(self, pre: int, bits: int, site: int | None, zero_delta: bool,
                 tiny: arb | None = None) -> int:
        """Round node `pre` to nearest at `bits`: |ε| ≤ 2^-bits·2^⌊log2 sup|v|⌋, half an
        ulp at the largest binade the value reaches (at least `tiny`, the subnormal
        half-ulp, when rounding to a C type)."""
        radius = binade(self.values[pre]) * arb(2) ** -bits
        if tiny is not None:
            radius = radius.max(tiny)
        return self.rounding(pre, radius, site, bits, zero_delta)

    def adjoints(self, output: int) -> list[arb | None]:
        """∂ output / ∂ node for every node (None: no dependence), by reverse sweep."""
        adjoint: list[arb | None] = [None] * (output + 1)
        adjoint[output] = ONE
        for index in range(output, -1, -1):
            bar = adjoint[index]
            if bar is None:
                continue
            for arg, partial in self.links[index]:
                contribution = bar * partial
                previous = adjoint[arg]
                adjoint[arg] = contribution if previous is None else previous + contribution
        return adjoint


class Forward(RegionWalker):
    """Runs the IR on balls, building a Tape. `choices` forces undecided branches (by
    occurrence on the path); an undecided branch without a choice raises Undecided."""

    def __init__(self, kernel: Kernel, site_bits: Sequence[int], zero_delta: bool,
                 choices: dict[int, bool]) -> None:
        self.kernel = kernel
        self.site_bits = site_bits
        self.zero_delta = zero_delta
        self.choices = choices
        self.occurrence = 0
        self.tape = Tape()

    def literal(self, lit: Lit, bits: int | None, site: int | None) -> object:
        """A literal operand: rounded at its consumer's precision `bits` (site `site`),
        else at the kernel's type precision (docs/method.md §1)."""
        if lit.type == INT:
            return int(lit.text)
        if lit.type == BOOL:
            return lit.text == "1"
        rounded = literal(lit.text, bits or self.kernel.baseline_bits)
        index = self.tape.leaf(rounded.exact, rounded.width)
        if rounded.error is None:
            return index
        return self.tape.rounding(index, rounded.error, site, rounded.width, self.zero_delta)

    def value(self, atom: Atom, env: Env, bits: int | None = None,
              site: int | None = None) -> object:
        """A real scalar is a node index; arrays lists of them; ints and booleans plain."""
        if isinstance(atom, Var):
            return env[id(atom)]
        return self.literal(atom, bits, site)

    def ball(self, atom: Atom, env: Env) -> object:
        """An operand of a comparison or integer operation (reals as their ball)."""
        value = self.value(atom, env)
        return self.tape.values[value] if atom.type == REAL else value  # type: ignore[index]

    def while_loop(self, loop: While, env: Env) -> list[object]:
        raise Unsupported(unsupported_reason(loop))

    def decide(self, cond: Cond, env: Env) -> bool:
        taken = self.ball(cond.pred, env)
        if taken is not None:
            return bool(taken)
        occurrence = self.occurrence
        self.occurrence += 1
        if occurrence not in self.choices:
            raise Undecided(occurrence)
        self.tape.forked = True
        return self.choices[occurrence]

    def eqn(self, eqn: Eqn, env: Env) -> object:
        op = eqn.op
        if op in ARRAY_OPS:
            return self.array_eqn(eqn, env)
        if op == "zeros":
            dims = [self.value(a, env) for a in eqn.args]
            return [self.tape.leaf(arb(0), 1)] * math.prod(dims)  # type: ignore[arg-type]
        if op == "itof":
            number = self.value(eqn.args[0], env)
            return self.tape.leaf(arb(number), max(1, abs(number).bit_length()))  # type: ignore
        if op not in RULES:
            return OTHER_RULES[op](*(self.ball(a, env) for a in eqn.args))
        bits = None if eqn.site is None else self.site_bits[eqn.site]
        nodes: list[int] = [self.value(a, env, bits, eqn.site) for a in eqn.args]  # type: ignore
        return self.apply(eqn, nodes, bits)

    def apply(self, eqn: Eqn, nodes: list[int], bits: int | None) -> int:
        tape = self.tape
        rule = RULES[eqn.op]
        args = [tape.values[n] for n in nodes]
        out = rule.value(*args)
        if not out.is_finite():
            raise Undefined(eqn.loc, f"{eqn.op} is undefined or not finite on part of the box")
        links = []
        for k, n in enumerate(nodes):
            if tape.active[n]:
                partial = rule.partials[k](out, *args)
                if not partial.is_finite():
                    raise Undefined(eqn.loc, f"the derivative of {eqn.op} is not finite "
                                             "on part of the box")
                links.append((n, partial))
        width = self.width(eqn.op, [tape.widths[n] for n in nodes], bits)
        index = tape.node(out, width, tuple(links))
        if bits is None or width <= bits:
            return index
        return tape.round_to(index, bits, eqn.site, self.zero_delta)

    @staticmethod
    def width(op: str, widths: list[int], bits: int | None) -> int:
        """Bits of an exact result where they are known (exact operations, products and
        quotients by powers of two); else one more than any precision, forcing a rounding."""
        if op in ("neg", "fabs", "copy", "fmin", "fmax"):
            return max(widths)
        if op == "mul":
            a, b = widths
            return a + b - (1 if min(a, b) == 1 else 0)
        if op == "div" and widths[1] == 1:
            return widths[0]
        return (bits or 0) + 1


def binade(value: arb) -> arb:
    """2^⌊log2 m⌋ for an upper bound m of |value| (0 for 0): a power of two no smaller
    than that of any point of the ball."""
    upper = math.nextafter(float(value.abs_upper()), math.inf)
    if upper == 0:
        return arb(0)
    if math.isinf(upper):
        return arb.pos_inf()
    return arb(2) ** (math.frexp(upper)[1] - 1)
