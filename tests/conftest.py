"""Suite-wide: under pytest-xdist (`-n 2 --dist loadgroup`), every test that boots QEMU runs on
one worker, one QEMU at a time, while the other worker takes the tests that need none: two
QEMUs at once on a 2-core machine would slow every guest (and a guest without -icount does
more per tick the slower the host is), and module-scoped captures stay shared."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups in the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("qemu") is not None:
            item.add_marker(pytest.mark.xdist_group("qemu"))
