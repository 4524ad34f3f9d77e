"""tracer: watch an x86-64 kernel cross the user/kernel boundary through QEMU and gdb.

Layers, bottom up (a module imports only from its own layer or the ones before it):
`events` (frozen dataclasses, stdlib only) and `decode/` (pure decoders); `image/` (what the
ELF files say); `analysis/` (pure: TLS owners, checks, call trees); `store/` (the trace file);
`target/` (the only code that talks to QEMU and gdb) and `probes/` (what to break on and how to
read it); `capture` (the loop); `guest` (the built-in guest, input checks); the readers `report`,
`export/` and `tui/`; the faces `api` and `pytest_plugin`; `commands/` and `cli` on top.
`bench/` holds benchmarks and the soak: nothing in the product imports it.
tests/unit/test_layers.py holds these rules.
"""

__version__ = "0.1.0"
