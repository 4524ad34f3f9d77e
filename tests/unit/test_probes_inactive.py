"""Where the plan leaves an inactive-base write (swapgs; wr*base; swapgs) unarmed: default mode
only, and only that idiom (a plain wrfsbase/wrgsbase stays a probe). Assembled here; no QEMU."""

from __future__ import annotations

from pathlib import Path

from test_image_support import assemble_program

from tracer.image import ElfImage
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.plan import build_plan

SOURCE = r"""
	.text
	.globl	_start
_start:
	hlt
	.globl	wrgsbase_inactive
wrgsbase_inactive:			/* Linux's __wrgsbase_inactive */
	swapgs
	wrgsbase %rdi
	swapgs
	ret
	.globl	load_bases
load_bases:				/* a switch's plain writes */
	wrfsbase %rax
	wrgsbase %rdx
	swapgs
	ret
	.section .note.GNU-stack, "", @progbits
"""


def _armed(image: ElfImage, mode: Mode) -> set[tuple[int, ProbeKind]]:
    plan = build_plan(image, mode, frozenset({"segbase"}))
    return {(p.addr, p.kind) for p in plan.probes if p.kind in (ProbeKind.WRFSBASE,
                                                                ProbeKind.WRGSBASE)}  # fmt: skip


def test_only_the_inactive_write_is_left_to_the_next_stop(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "inactive", SOURCE))
    inactive = image.address_of("wrgsbase_inactive")
    loads = image.address_of("load_bases")
    assert inactive is not None and loads is not None
    plain = {(loads, ProbeKind.WRFSBASE), (loads + 5, ProbeKind.WRGSBASE)}
    assert _armed(image, Mode.DEFAULT) == plain
    assert _armed(image, Mode.EXHAUSTIVE) == plain | {(inactive + 3, ProbeKind.WRGSBASE)}
    plan = build_plan(image, Mode.DEFAULT, frozenset({"segbase"}))
    assert plan.inactive_writes_rebuilt
    assert not build_plan(image, Mode.EXHAUSTIVE, frozenset({"segbase"})).inactive_writes_rebuilt
