"""Suite-wide: under pytest-xdist (`-n 2 --dist loadgroup`), the tests that boot the built-in
guest run on one worker, one after another, and those that boot Debian's Linux (marked `linux`)
form a second group, which the other worker takes beside the tests that need no QEMU: at most
two QEMUs at once on a 2-core machine (more would slow every guest: a guest without -icount
does more per tick the slower the host is), and module-scoped captures stay shared. The
whole suite: 9 min 47 s with one QEMU group, 6 min 47 s with the Linux tests apart."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups in the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("linux") is not None:
            item.add_marker(pytest.mark.xdist_group("linux"))
        elif item.get_closest_marker("qemu") is not None:
            item.add_marker(pytest.mark.xdist_group("qemu"))
