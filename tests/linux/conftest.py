"""Debian's stock kernel for the `linux` tests, fetched once with apt and cached outside the
checkout (`~/.cache/tracer/linux/`, or `$TRACER_CACHE`), so later runs and CI reuse it."""

from __future__ import annotations

import pytest

from tracer.linux.packages import KernelFiles, PackageUnavailable, fetch_kernel


def _fetch(debug: bool) -> KernelFiles:
    try:
        return fetch_kernel(debug=debug)
    except PackageUnavailable as exc:
        what = "linux-image-amd64 and its -dbg package" if debug else "linux-image-amd64"
        pytest.skip(f"Debian's {what} cannot be had: {exc}")


@pytest.fixture(scope="session")
def debian_kernel() -> KernelFiles:
    """The bzImage only (a 70 MB package)."""
    return _fetch(debug=False)


@pytest.fixture(scope="session")
def debian_kernel_dbg() -> KernelFiles:
    """The bzImage, the DWARF vmlinux, System.map and the stripped vmlinux (an 860 MB package)."""
    return _fetch(debug=True)
