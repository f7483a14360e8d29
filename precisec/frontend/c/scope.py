"""What a C name means while a function is built: its current SSA value, and the frames
that tell which outer names a loop body or a branch side assigns.

Integer values are either known at compile time (a Python int) or `IntRange`: an IR value
with the interval of values it can take, which bounds array indices statically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from precisec.ir import Atom, Var


@dataclass(frozen=True)
class IntRange:
    """A run-time integer (derived from loop counters) and its bounds lo <= v <= hi."""

    atom: Var
    lo: int
    hi: int


IntValue = int | IntRange


def unflat(position: int, shape: tuple[int, ...]) -> list[int]:
    """The indices of a row-major flat position."""
    indices: list[int] = []
    for size in reversed(shape):
        indices.append(position % size)
        position //= size
    return indices[::-1]


def bounds(value: IntValue) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value.lo, value.hi)


@dataclass(eq=False)
class Real:
    """A double/float scalar: its current value, None while unassigned."""

    name: str
    level: int
    value: Atom | None = None
    const: bool = False


@dataclass(eq=False)
class Integer:
    """An int local, loop counter or helper parameter."""

    name: str
    level: int
    value: IntValue | None = None
    const: bool = False
    counter: bool = False


@dataclass(eq=False)
class Array:
    """A real array: its current whole-array value. `known` holds the flat positions
    written so far in straight-line order (None: cannot tell, every read is allowed)."""

    name: str
    level: int
    value: Var
    writable: bool
    known: set[int] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape


Binding = Real | Integer | Array


@dataclass
class Frame:
    """A loop body or branch side being built. `saved` holds, for each binding declared
    outside it and assigned inside, its value before the frame (restored on exit)."""

    level: int
    loop: bool
    saved: dict[int, tuple[Binding, object]] = field(default_factory=dict)


class Scopes:
    """Nested block scopes of one function, and the frames open in it."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Binding]] = [{}]
        self.frames: list[Frame] = []

    @property
    def level(self) -> int:
        return len(self.frames)

    def find(self, name: str) -> Binding | None:
        for block in reversed(self.blocks):
            if name in block:
                return block[name]
        return None

    def declare(self, binding: Binding) -> bool:
        """Add a binding to the innermost block; False if the name is already there."""
        if binding.name in self.blocks[-1]:
            return False
        self.blocks[-1][binding.name] = binding
        return True

    def assign(self, binding: Binding, value: object) -> None:
        """Give a binding a new value, remembering its old one in the innermost frame if
        it was declared outside it."""
        if self.frames and binding.level < self.level:
            self.frames[-1].saved.setdefault(id(binding), (binding, binding.value))
        binding.value = value  # type: ignore[assignment]

    def in_loop_since(self, binding: Binding) -> bool:
        """Whether a loop body has been entered since the binding was declared."""
        return any(f.loop and f.level > binding.level for f in self.frames)

    def open(self, loop: bool) -> Frame:
        frame = Frame(self.level + 1, loop)
        self.frames.append(frame)
        return frame

    def close(self) -> list[tuple[Binding, object]]:
        """Close the innermost frame: the outer bindings it assigned with their values at
        its end, in first-assignment order; each gets its value from before back."""
        frame = self.frames.pop()
        written = []
        for binding, before in frame.saved.values():
            written.append((binding, binding.value))
            binding.value = before  # type: ignore[assignment]
        return written
