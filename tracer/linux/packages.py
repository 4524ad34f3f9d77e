"""Debian's stock kernel, fetched with apt and cached: the bzImage, and when asked the -dbg
package's vmlinux (DWARF) and System.map, plus a DWARF-stripped vmlinux that boots fast (PVH).

Layout: ``<cache>/linux/<release>_<version>/{vmlinuz,System.map,vmlinux,vmlinux.nodebug}``.
Each file appears under its final name only once whole (extracted aside, then renamed), so a
directory is reused as is by later runs, offline too.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The tracer's cache directory, where the kernel files are kept too.
from tracer.image.cache import cache_root as cache_root

META_PACKAGE = "linux-image-amd64"
_IMAGE_PACKAGE = re.compile(r"linux-image-(\d[\w.+~-]*-amd64)$")

Progress = Callable[[str], None]


class PackageUnavailable(Exception):
    """The kernel package cannot be had here (no apt, no network, no such package)."""


@dataclass(frozen=True)
class KernelPackage:
    """One resolved image package: ``linux-image-6.1.0-57-amd64`` at version 6.1.192-3."""

    release: str  # the kernel release, `uname -r`: 6.1.0-57-amd64
    version: str  # the Debian package version: 6.1.192-3

    @property
    def image(self) -> str:
        return f"linux-image-{self.release}"

    @property
    def dbg(self) -> str:
        return f"linux-image-{self.release}-dbg"

    @property
    def key(self) -> str:
        return f"{self.release}_{self.version}"


@dataclass(frozen=True)
class KernelFiles:
    """A cached kernel. The dbg paths are None unless the -dbg package was asked for."""

    package: KernelPackage
    directory: Path
    vmlinuz: Path
    vmlinux: Path | None = None  # with DWARF (633 MB for 6.1)
    system_map: Path | None = None
    vmlinux_nodebug: Path | None = None  # `objcopy --strip-debug`: boots through its PVH note
    timings: tuple[tuple[str, float], ...] = ()  # (step, seconds) for the steps this run did


def run_tool(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; PackageUnavailable (one line) when it is missing or fails."""
    if shutil.which(argv[0]) is None:
        raise PackageUnavailable(f"{argv[0]} not found (Debian's apt tools are needed)")
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd)
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["failed"]
        raise PackageUnavailable(f"{' '.join(argv[:3])}: {last[0]}") from None


def resolve_package(meta: str = META_PACKAGE) -> KernelPackage:
    """The real image package behind the meta-package, at apt's candidate version."""
    depends = run_tool(["apt-cache", "depends", meta]).stdout
    releases = [
        m.group(1)
        for line in depends.splitlines()
        if line.strip().startswith("Depends:")
        and (m := _IMAGE_PACKAGE.match(line.split(":", 1)[1].strip()))
    ]
    if not releases:
        raise PackageUnavailable(f"{meta} depends on no linux-image-*-amd64 package")
    release = releases[0]
    shown = run_tool(["apt-cache", "show", "--no-all-versions", f"linux-image-{release}"]).stdout
    version = next((ln.split(":", 1)[1].strip() for ln in shown.splitlines()
                    if ln.startswith("Version:")), None)  # fmt: skip
    if version is None:
        raise PackageUnavailable(f"apt-cache shows no version of linux-image-{release}")
    return KernelPackage(release, version)


def _cached_package(root: Path) -> KernelPackage | None:
    """The newest kernel already in the cache, for when apt cannot answer (offline CI)."""
    found = sorted(
        (d for d in (root / "linux").glob("*_*") if (d / "vmlinuz").exists()),
        key=lambda d: d.stat().st_mtime,
    )
    if not found:
        return None
    release, _, version = found[-1].name.partition("_")
    return KernelPackage(release, version)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One fetcher per kernel at a time (parallel test sessions share the cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(package: str, version: str, into: Path) -> Path:
    run_tool(["apt-get", "download", "-q", f"{package}={version}"], cwd=into)
    debs = list(into.glob(f"{package}_*.deb"))
    if not debs:
        raise PackageUnavailable(f"apt-get download {package} left no .deb")
    return debs[0]


def _extract(deb: Path, members: dict[str, str], directory: Path) -> None:
    """Pull `members` (path in the package -> name in the cache) out of one .deb in one pass."""
    with tempfile.TemporaryDirectory(dir=directory, prefix=".extract-") as scratch:
        # dpkg-deb complains of a broken pipe when tar stops early: expected, so not shown.
        fsys = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(deb)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # --occurrence stops reading once every member is found (xz makes reading it all slow).
        tar = subprocess.run(
            ["tar", "-x", "-C", scratch, "--occurrence", *members],
            stdin=fsys.stdout, capture_output=True, text=True,
        )  # fmt: skip
        assert fsys.stdout is not None
        fsys.stdout.close()
        fsys.wait()
        if tar.returncode != 0:
            raise PackageUnavailable(f"extracting {deb.name}: {tar.stderr.strip()[:200]}")
        for member, name in members.items():
            os.replace(Path(scratch) / member, directory / name)


def _strip_debug(vmlinux: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    run_tool(["objcopy", "--strip-debug", str(vmlinux), str(partial)])
    os.replace(partial, target)


class _Steps:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done: list[tuple[str, float]] = []

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress(what)
        start = time.monotonic()
        yield
        self.done.append((what, time.monotonic() - start))


def fetch_kernel(
    *,
    debug: bool = False,
    root: Path | None = None,
    meta: str = META_PACKAGE,
    progress: Progress | None = None,
) -> KernelFiles:
    """Debian's kernel, from the cache or apt. `debug` also gets the -dbg package's vmlinux and
    System.map and makes the stripped vmlinux. Raises PackageUnavailable with the reason."""
    root = root or cache_root()
    try:
        package = resolve_package(meta)
    except PackageUnavailable:
        cached = _cached_package(root)
        if cached is None:
            raise
        package = cached
    directory = root / "linux" / package.key
    steps = _Steps(progress)
    with _locked(directory):
        vmlinuz = directory / "vmlinuz"
        if not vmlinuz.exists():
            _fetch_members(package.image, package, {f"./boot/vmlinuz-{package.release}": "vmlinuz"},
                           directory, steps)  # fmt: skip
        if not debug:
            return KernelFiles(package, directory, vmlinuz, timings=tuple(steps.done))
        debug_dir = "./usr/lib/debug/boot"
        wanted = {
            f"{debug_dir}/vmlinux-{package.release}": "vmlinux",
            f"{debug_dir}/System.map-{package.release}": "System.map",
        }
        missing = {m: n for m, n in wanted.items() if not (directory / n).exists()}
        if missing:
            _fetch_members(package.dbg, package, missing, directory, steps)
        nodebug = directory / "vmlinux.nodebug"
        if not nodebug.exists():
            with steps.step("objcopy --strip-debug vmlinux"):
                _strip_debug(directory / "vmlinux", nodebug)
    return KernelFiles(
        package, directory, vmlinuz, directory / "vmlinux", directory / "System.map", nodebug,
        tuple(steps.done),
    )  # fmt: skip


def _fetch_members(
    name: str, package: KernelPackage, members: dict[str, str], directory: Path, steps: _Steps
) -> None:
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        with steps.step(f"apt-get download {name}"):
            deb = _download(name, package.version, Path(scratch))
        with steps.step(f"extract {', '.join(members.values())} from {deb.name}"):
            _extract(deb, members, directory)
