"""The one statement-by-statement walk of a kernel's regions, for point interpreters.

An interpreter that runs a kernel on one point at a time (the defining gmpy2
interpreter, the ball-arithmetic forward pass of the sound bound) differs from another
only in how it evaluates an atom, an equation, a branch decision and a `While`; the order
of evaluation, the binding of region parameters and results, counted loops and the
functional arrays are the same for all of them (docs/method.md §1) and live here once.
"""

from __future__ import annotations

from collections.abc import Sequence

from precisec.ir.core import Atom, Cond, Eqn, Lit, Loop, Region, Var, While

Env = dict[int, object]
"""Values of the variables in scope, keyed by `id(var)`."""


class RegionWalker:
    """Runs regions; subclasses supply `value`, `eqn`, `decide` and `while_loop`."""

    def value(self, atom: Atom, env: Env) -> object:
        """The value of an operand (a variable's binding or a literal)."""
        raise NotImplementedError

    def eqn(self, eqn: Eqn, env: Env) -> object:
        """The value an equation defines."""
        raise NotImplementedError

    def decide(self, cond: Cond, env: Env) -> bool:
        """Whether a branch takes its `then` side."""
        raise NotImplementedError

    def while_loop(self, loop: While, env: Env) -> list[object]:
        """The final carried values of a data-dependent loop."""
        raise NotImplementedError

    def region(self, region: Region, env: Env, params: Sequence[object]) -> list[object]:
        """Bind the parameters, run the statements in order, return the results."""
        for var, value in zip(region.params, params, strict=True):
            env[id(var)] = value
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                env[id(stmt.out)] = self.eqn(stmt, env)
                continue
            if isinstance(stmt, Loop):
                carried = [self.value(a, env) for a in stmt.init]
                for k in range(stmt.trips):
                    carried = self.region(stmt.body, env, [stmt.start + k * stmt.step, *carried])
            elif isinstance(stmt, While):
                carried = self.while_loop(stmt, env)
            else:
                side = stmt.then if self.decide(stmt, env) else stmt.other
                carried = self.region(side, env, [])
            for var, value in zip(stmt.outs, carried, strict=True):
                env[id(var)] = value
        return [self.value(a, env) for a in region.results]

    def array_eqn(self, eqn: Eqn, env: Env) -> object:
        """`load` and `store` on the functional arrays (Python lists of element values)."""
        array = env[id(eqn.args[0])]
        if eqn.op == "load":
            return array[flat_index(eqn.args[0], eqn.args[1:], env)]  # type: ignore[index]
        stored = list(array)  # type: ignore[call-overload]
        stored[flat_index(eqn.args[0], eqn.args[1:-1], env)] = self.value(eqn.args[-1], env)
        return stored


ARRAY_OPS = frozenset({"load", "store"})


def flat_index(array: Atom, indices: Sequence[Atom], env: Env) -> int:
    """Row-major position of an element; an index out of its extent is an IndexError."""
    assert isinstance(array, Var)
    position = 0
    for index, extent in zip(indices, array.shape, strict=True):
        k = int(index.text) if isinstance(index, Lit) else env[id(index)]
        if not 0 <= k < extent:  # type: ignore[operator]
            raise IndexError(f"index {k} out of bounds for extent {extent}")
        position = position * extent + k  # type: ignore[operator]
    return position
