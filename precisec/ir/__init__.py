"""The IR: SSA values and regions (`core`), built by `builder`, checked by `check`, run by
`walker`'s point interpreters."""

from precisec.ir.core import (
    BOOL,
    INT,
    REAL,
    Atom,
    Cond,
    Eqn,
    Input,
    Kernel,
    Lit,
    Loop,
    Output,
    Param,
    Precondition,
    Region,
    Site,
    Stmt,
    Var,
    While,
    executions,
    site_eqns,
    walk,
)

__all__ = ["BOOL", "INT", "REAL", "Atom", "Cond", "Eqn", "Input", "Kernel", "Lit", "Loop",
           "Output", "Param", "Precondition", "Region", "Site", "Stmt", "Var", "While",
           "executions", "site_eqns", "walk"]
