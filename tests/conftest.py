"""pytest fixtures shared by the suite; plain helpers live in helpers.py."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def toolchain_available() -> bool:
    from precisec.toolchain import find_toolchain

    try:
        find_toolchain()
    except RuntimeError as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"no C toolchain: {err}")
    return True
