"""Who a crossing belongs to: a new address space after an execve keeps the exec'ing pid."""

from __future__ import annotations

from tracer.probes.identity import Identity


def _started_shell() -> Identity:
    ids = Identity(program_names=("init",))
    ids.user_thread(cpu=1, cr3=0x1000)  # pid 1, init
    ids.user_thread(cpu=1, cr3=0x2000)  # pid 2, a child of init
    return ids


def test_an_exec_on_the_same_cpu_keeps_its_pid_and_takes_the_new_name() -> None:
    ids = _started_shell()
    ids.exec_started(cpu=1, pid=2, path=b"/bin/two_threads")
    thread, first = ids.user_thread(cpu=1, cr3=0x3000)
    assert (thread.pid, thread.name, first) == (2, "two_threads", True)


def test_an_exec_moved_to_another_cpu_keeps_its_pid() -> None:
    """Linux's sched_exec moves the exec'ing task: its new image first returns on CPU 0."""
    ids = _started_shell()
    ids.exec_started(cpu=1, pid=2, path=b"/bin/two_threads")
    thread, _ = ids.user_thread(cpu=0, cr3=0x3000)
    assert (thread.pid, thread.name) == (2, "two_threads")
    assert ids.execs == {}


def test_a_new_address_space_with_no_exec_pending_is_a_new_process() -> None:
    ids = _started_shell()
    ids.exec_started(cpu=1, pid=2, path=b"/bin/two_threads")
    ids.exec_failed(pid=2)
    thread, first = ids.user_thread(cpu=0, cr3=0x3000)
    assert (thread.pid, first) == (3, True)


def test_a_failed_exec_drops_its_own_pending_exec_whatever_cpu_it_returns_on() -> None:
    """Its exit may come on another CPU than its entry, where another exec may be pending."""
    ids = _started_shell()
    ids.user_thread(cpu=0, cr3=0x4000)  # pid 3
    ids.exec_started(cpu=1, pid=2, path=b"/bin/missing")
    ids.exec_started(cpu=0, pid=3, path=b"/bin/hello")
    ids.exec_failed(pid=2)  # returned on CPU 0
    assert ids.execs == {0: (3, "hello")}
    thread, _ = ids.user_thread(cpu=0, cr3=0x5000)
    assert (thread.pid, thread.name) == (3, "hello")


def test_a_process_a_clone_returned_in_is_threaded_until_it_exits() -> None:
    ids = _started_shell()
    assert not ids.is_threaded(0x2000)
    ids.cloned(0x2000 | 0x1)  # PCID bits are not the address space
    assert ids.is_threaded(0x2000)
    ids.exited(cpu=1, cr3=0x2000)
    assert not ids.is_threaded(0x2000)


def test_an_exec_whose_exit_returned_takes_its_space_before_other_cpus_pending_ones() -> None:
    """pid 3's exec began on CPU 1 and returned on CPU 0, where pid 2's exec is pending: the
    exit says which, so the new space is pid 3's (the oldest-pending rule would say pid 2)."""
    ids = _started_shell()
    ids.user_thread(cpu=0, cr3=0x4000)  # pid 3
    ids.exec_started(cpu=0, pid=2, path=b"/bin/slow")
    ids.exec_started(cpu=1, pid=3, path=b"/bin/two_threads")
    ids.exec_returned(cpu=0, pid=3)
    thread, first = ids.user_thread(cpu=0, cr3=0x5000)
    assert (thread.pid, thread.name, first) == (3, "two_threads", True)
    assert ids.execs == {0: (2, "slow")} and ids.returning == {}


def test_with_a_context_switch_probe_an_exec_still_starts_the_new_image() -> None:
    """Linux with `--probes ...,sched`: the switch names the running task (its real pid); the
    exec's new address space is that task's new program, as without the probe."""
    ids = Identity(program_names=())
    ids.switched(cpu=0, pid=79, name="init")  # the forked child, still init's image
    assert ids.user_thread(cpu=0, cr3=0x2000)[1]  # its first crossing: a start
    ids.exec_started(cpu=0, pid=79, path=b"/bin/hello-glibc")
    ids.exec_returned(cpu=0, pid=79)
    thread, first = ids.user_thread(cpu=0, cr3=0x3000)
    assert (thread.pid, thread.name, first) == (79, "hello-glibc", True)
    assert ids.thread(cpu=0, cr3=0x3000) == thread and ids.name(79) == "hello-glibc"
    assert ids.user_thread(cpu=0, cr3=0x3000) == (thread, False)  # once
