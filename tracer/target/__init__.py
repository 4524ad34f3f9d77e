"""target: the only code that starts QEMU or gdb or talks to them.

`protocol.Target` is what the capture loop may ask of a machine (run control, registers,
memory, the agent's records, liveness); `session.TargetSession` implements it over `qemu.py`
(the QEMU process, its private 0700 directory and unix-socket gdbstub), `gdb.py` and `mi.py`
(gdb over MI), and `agent/` (the Python loaded into gdb that handles probe hits without a
round trip). `fake.FakeTarget` replays scripted records for unit tests. pygdbmi's dicts and
gdb's Python never leave this package: callers see `records` (ProbeHit, AgentError,
StopEvent). Imports `events`, `decode` (the agent, for argument reads) and nothing above.
"""
