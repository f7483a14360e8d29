"""pytest fixtures shared by the suite; plain helpers live in helpers.py."""

from __future__ import annotations

import pytest
from hypothesis import settings

# Property tests run the emulator and JAX, whose timings vary on a shared 2-core machine, so
# no per-example deadline; examples are derived from the test itself, so a CI run is
# reproducible.
settings.register_profile("precisec", deadline=None, derandomize=True)
settings.load_profile("precisec")


@pytest.fixture(scope="session")
def toolchain_available() -> bool:
    from precisec.toolchain import find_toolchain

    try:
        find_toolchain()
    except RuntimeError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"no C toolchain: {err}")
    return True
