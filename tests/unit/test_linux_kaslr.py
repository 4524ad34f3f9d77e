"""The KASLR slide from LSTAR, and relocation of symbol addresses (pure)."""

from __future__ import annotations

import pytest

from tracer.linux.kaslr import Slide, SlideError, image_range, slide_from_lstar

ENTRY = 0xFFFFFFFF81C00080  # entry_SYSCALL_64 in Debian 6.1's System.map
IMAGE = (0xFFFFFFFF81000000, 0xFFFFFFFF84430000)


def test_slide_measured_on_a_kaslr_boot() -> None:
    # /proc/kallsyms of a bzImage boot said entry_SYSCALL_64 was at 0xffffffffac200080.
    slide = slide_from_lstar(0xFFFFFFFFAC200080, ENTRY, IMAGE)
    assert slide.offset == 0x2A600000
    assert slide.relocate(0xFFFFFFFF819F9CA0) == 0xFFFFFFFFABFF9CA0  # kaslr_get_random_long
    assert slide.unrelocate(0xFFFFFFFFABFF9CA0) == 0xFFFFFFFF819F9CA0
    assert str(slide) == "KASLR slide +0x2a600000"


def test_per_cpu_offsets_and_outside_addresses_do_not_move() -> None:
    slide = slide_from_lstar(ENTRY + 0x400000, ENTRY, IMAGE)
    assert slide.relocate(0x1FB80) == 0x1FB80  # current_task, a per-CPU offset
    assert slide.relocate(0xFFFFFFFFC0001000) == 0xFFFFFFFFC0001000  # a module address
    assert slide.relocate(IMAGE[1] - 1) == IMAGE[1] - 1 + 0x400000
    assert slide.unrelocate(0x401000) == 0x401000  # user space


def test_no_slide_and_a_negative_one() -> None:
    assert str(slide_from_lstar(ENTRY, ENTRY, IMAGE)) == "no KASLR slide"
    down = slide_from_lstar(ENTRY - 0x200000, ENTRY, IMAGE)
    assert down.offset == -0x200000 and str(down) == "KASLR slide -0x200000"
    assert down.relocate(IMAGE[0]) == IMAGE[0] - 0x200000


@pytest.mark.parametrize(
    ("lstar", "message"),
    [
        (ENTRY + 0x1000, "not a multiple of 0x200000"),
        (0x0, "not a kernel address"),
        (0x401000, "not a kernel address"),
    ],
)
def test_inconsistent_lstar_is_refused(lstar: int, message: str) -> None:
    with pytest.raises(SlideError, match=message):
        slide_from_lstar(lstar, ENTRY, IMAGE)


def test_image_range_leaves_per_cpu_offsets_out() -> None:
    pairs = [(0, 0), (0x1FB80, 8), (IMAGE[0], 0x100), (0xFFFFFFFF8442FFF0, 0x10)]
    assert image_range(pairs) == IMAGE
    with pytest.raises(SlideError):
        image_range([(0x1FB80, 8)])
    assert Slide(0, *IMAGE).relocate(ENTRY) == ENTRY
