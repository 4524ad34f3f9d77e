"""Where a syscall's way out through iretq starts: Linux copies the iret frame to a trampoline
stack and shares its iretq with every interrupt, so its exits are taken where the dispatcher
returns; the built-in guest's route pops in place and keeps its exit instructions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from test_image_support import assemble_program

from tracer.image import ElfImage, analyze_syscall_entry
from tracer.image.iret_route import IretRoute, find_iret_routes
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.plan import ProbePlan
from tracer.probes.syscall import add_entry

# pt_regs pushed, the dispatch call with RDI = RSP, then sysret's checks branching away.
ENTRY = """
	.text
	.globl	entry_SYSCALL_64
entry_SYSCALL_64:
	swapgs
	movq	%gs:0x18, %rsp
	pushq	$0x2b
	pushq	%rcx
	pushq	%r11
	pushq	$0x33
	pushq	%rcx
	pushq	%rax
	pushq	%rdi
	movq	%rsp, %rdi
	call	do_syscall_64
{after_call}
	.globl	sysret_path
sysret_path:
	popq	%rdi
	popq	%rax
	addq	$8, %rsp
	swapgs
	.globl	entry_sysretq
entry_sysretq:
	sysretq

	.globl	do_syscall_64
do_syscall_64:
	ret
"""

LINUX_ROUTE = """
	movq	0x58(%rsp), %rcx
	cmpq	%rcx, 0x80(%rsp)
	jne	swapgs_restore_regs_and_return_to_usermode
	cmpq	$0x33, 0x88(%rsp)
	jne	swapgs_restore_regs_and_return_to_usermode
	jmp	sysret_path

	.globl	swapgs_restore_regs_and_return_to_usermode
swapgs_restore_regs_and_return_to_usermode:
	popq	%rdi
	popq	%rax
	movq	%rsp, %rdi
	movq	%gs:0x6004, %rsp	/* the trampoline stack */
	pushq	0x28(%rdi)
	pushq	0x20(%rdi)
	pushq	0x18(%rdi)
	pushq	0x10(%rdi)
	pushq	0x8(%rdi)
	swapgs
	jmp	native_iret

	.globl	restore_regs_and_return_to_kernel
restore_regs_and_return_to_kernel:
	popq	%rdi
	popq	%rax
	addq	$8, %rsp
	.globl	native_iret
native_iret:
	iretq
"""

IN_PLACE_ROUTE = """
	cmpb	$0, tls_switch(%rip)	/* an optional hook: the branch skips a call */
	je	1f
	movq	%rsp, %rdi
	call	hook
1:
	testb	%al, %al
	jz	return_by_iret
	jmp	sysret_path

	.globl	return_by_iret
return_by_iret:
	popq	%rdi
	popq	%rax
	addq	$8, %rsp
	swapgs
	.globl	guest_iret
guest_iret:
	iretq

hook:
	ret
	.data
tls_switch:
	.byte	0
	.text
"""

MOVED_BEFORE_BRANCH = """
	popq	%rdi			/* RSP no longer at pt_regs from here */
	pushq	%rdi
	jne	swapgs_restore_regs_and_return_to_usermode
	jmp	sysret_path

	.globl	swapgs_restore_regs_and_return_to_usermode
swapgs_restore_regs_and_return_to_usermode:
	movq	%gs:0x6004, %rsp
	swapgs
	iretq
"""


def _routes(tmp_path: Path, after_call: str) -> tuple[ElfImage, tuple[IretRoute, ...]]:
    image = ElfImage.open(assemble_program(tmp_path, "entry", ENTRY.format(after_call=after_call)))
    entry = image.address_of("entry_SYSCALL_64")
    assert entry is not None
    return image, find_iret_routes(image, analyze_syscall_entry(image, entry))


def _at(image: ElfImage, name: str) -> int:
    addr = image.address_of(name)
    assert addr is not None, name
    return addr


def test_linux_route_starts_at_the_branch_target_and_moves_the_frame(tmp_path: Path) -> None:
    image, routes = _routes(tmp_path, LINUX_ROUTE)
    start, iret = (_at(image, "swapgs_restore_regs_and_return_to_usermode"),
                   _at(image, "native_iret"))  # fmt: skip
    # Two branches to one route: found once; its iretq is shared with the kernel return.
    assert routes == (IretRoute(start, iret, moves_frame=True),)


def test_a_route_popping_in_place_keeps_the_frame_for_its_iretq(tmp_path: Path) -> None:
    image, routes = _routes(tmp_path, IN_PLACE_ROUTE)
    # `je 1f` reaches sysretq too: not a route; the call in between returns RSP as it was.
    assert routes == (IretRoute(_at(image, "return_by_iret"), _at(image, "guest_iret"), False),)


def test_no_route_once_rsp_has_left_pt_regs(tmp_path: Path) -> None:
    _, routes = _routes(tmp_path, MOVED_BEFORE_BRANCH)
    assert routes == ()


def test_a_path_without_a_dispatch_call_has_no_route(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "e", ENTRY.format(after_call=LINUX_ROUTE)))
    path = analyze_syscall_entry(image, _at(image, "entry_SYSCALL_64"))
    assert find_iret_routes(image, replace(path, dispatch_call=None)) == ()


def _exit_probes(image: ElfImage) -> dict[int, dict[str, object]]:
    plan = ProbePlan(Mode.DEFAULT)
    add_entry(plan, image, _at(image, "entry_SYSCALL_64"))
    return {p.addr: dict(p.extra) for p in plan.probes if p.kind == ProbeKind.SYSCALL_EXIT}


def test_a_moved_frame_puts_the_exit_where_the_dispatcher_returns(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "e", ENTRY.format(after_call=LINUX_ROUTE)))
    path = analyze_syscall_entry(image, _at(image, "entry_SYSCALL_64"))
    assert path.dispatch_call is not None
    returned = path.dispatch_call + 5  # the call's length
    # No probe at sysretq (every syscall stops where the dispatcher returned) nor at the
    # route's start (every interrupt from user mode passes there); the shared iretq keeps its
    # probe for interrupts (a Linux capture without irq probes drops it).
    assert _exit_probes(image) == {
        _at(image, "native_iret"): {"exit_kind": "iretq"},
        returned: {"exit_kind": "return", "frame_at": "rsp"},
    }


def test_a_frame_popped_in_place_keeps_the_exit_instructions(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "e", ENTRY.format(after_call=IN_PLACE_ROUTE)))
    exits = _exit_probes(image)
    assert sorted(exits) == sorted([_at(image, "entry_sysretq"), _at(image, "guest_iret")])
    assert all(e["exit_kind"] in ("sysretq", "iretq") for e in exits.values())
