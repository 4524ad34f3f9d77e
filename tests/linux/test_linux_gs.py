"""A user GS base on Debian's own kernel: arch_prctl(ARCH_SET_GS), then switches away and back.
Linux writes a user GS through `__wrgsbase_inactive` (swapgs; wrgsbase; swapgs), which the
tracer leaves unarmed in default mode and rebuilds at the CPU's next stop: the writes must
still show, each with its cause (arch_prctl, then the context switches), and `tracer check`
must be clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_linux_capture import capture

from tracer.decode.syscall_table import syscall_name
from tracer.events import SegBaseChange, SegCause, SyscallEntry
from tracer.linux.packages import KernelFiles

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
SOURCE = Path(__file__).parent / "programs" / "set_gs.c"
ARCH_SET_GS = 0x1001


def test_a_user_gs_base_is_seen_set_and_switched(tmp_path: Path, debian_kernel_dbg: KernelFiles):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    program = tmp_path / "set_gs"
    subprocess.run(["gcc", "-O2", "-static", "-o", program, SOURCE], check=True)
    host = subprocess.run([program], capture_output=True, text=True, check=True).stdout.strip()
    assert debian_kernel_dbg.vmlinux_nodebug is not None
    summary, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinux_nodebug,
                              program=program)  # fmt: skip
    assert host in summary["meta"]["console"].splitlines()  # "gs kept, read 0x1234"
    set_gs = next(e for e in events if isinstance(e, SyscallEntry)
                  and syscall_name(e.nr) == "arch_prctl" and e.args[0] == ARCH_SET_GS)  # fmt: skip
    block = set_gs.args[1]
    user_gs = [e for e in events if isinstance(e, SegBaseChange) and e.which == "kgs"
               and block in (e.old, e.new)]  # fmt: skip
    assert user_gs[0].new == block and user_gs[0].cause is SegCause.ARCH_PRCTL, user_gs[0]
    switched = [e for e in user_gs if e.cause is SegCause.CONTEXT_SWITCH]
    assert {e.old for e in switched} >= {block} and {e.new for e in switched} >= {block}
