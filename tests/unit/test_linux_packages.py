"""The package cache: members pulled out of a .deb by name, and an offline cache reused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tracer.linux import packages
from tracer.linux.packages import KernelPackage, PackageUnavailable

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed (Debian's package tools)"
)


def _build_deb(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: linux-image-9.9.9-1-amd64\nVersion: 9.9.9-1\nArchitecture: amd64\n"
        "Maintainer: test <t@example.org>\nDescription: test kernel\n"
    )
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    deb = tmp_path / "k.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--build", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return deb


def test_extract_takes_only_the_named_members(tmp_path: Path) -> None:
    deb = _build_deb(tmp_path, {
        "boot/vmlinuz-9.9.9-1-amd64": b"bzImage bytes",
        "boot/config-9.9.9-1-amd64": b"CONFIG_X=y",
        "usr/lib/debug/boot/System.map-9.9.9-1-amd64": b"ffffffff81000000 T _text\n",
    })  # fmt: skip
    out = tmp_path / "cache"
    out.mkdir()
    packages._extract(
        deb,
        {"./boot/vmlinuz-9.9.9-1-amd64": "vmlinuz",
         "./usr/lib/debug/boot/System.map-9.9.9-1-amd64": "System.map"},
        out,
    )  # fmt: skip
    assert (out / "vmlinuz").read_bytes() == b"bzImage bytes"
    assert (out / "System.map").read_text().endswith("_text\n")
    assert sorted(p.name for p in out.iterdir()) == ["System.map", "vmlinuz"]


def test_extract_names_a_missing_member(tmp_path: Path) -> None:
    deb = _build_deb(tmp_path, {"boot/vmlinuz-9.9.9-1-amd64": b"x"})
    out = tmp_path / "cache"
    out.mkdir()
    with pytest.raises(PackageUnavailable, match="vmlinux-9.9.9-1-amd64"):
        packages._extract(deb, {"./usr/lib/debug/boot/vmlinux-9.9.9-1-amd64": "vmlinux"}, out)
    assert not (out / "vmlinux").exists()


def test_cached_kernel_is_used_without_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = tmp_path / "linux" / "9.9.9-1-amd64_9.9.9-1"
    kept.mkdir(parents=True)
    (kept / "vmlinuz").write_bytes(b"cached")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))  # apt-cache cannot run
    files = packages.fetch_kernel(root=tmp_path)
    assert files.package == KernelPackage("9.9.9-1-amd64", "9.9.9-1")
    assert files.vmlinuz.read_bytes() == b"cached"
    assert files.timings == ()


def test_no_apt_and_no_cache_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    with pytest.raises(PackageUnavailable, match="apt-cache not found"):
        packages.fetch_kernel(root=tmp_path)
