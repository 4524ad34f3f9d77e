"""Probes, one module per kind (syscall, msr, segbase, irq, sched, funcgraph, ringbuf): how its
sites are found in the image, what the gdb agent reads at its stops, how its records become
events. `kinds.ProbeKind` names them on both sides; `registry` maps each kind to its handlers.

Nothing is imported here: the agent loads these modules in gdb's own Python (stdlib only).
"""
