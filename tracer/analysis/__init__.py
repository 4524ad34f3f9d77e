"""Pure analysis over events: TLS ownership of base values, the invariant checker, call trees
(and the GDT and kernel facts they need).

May import `tracer.events`, `tracer.decode` and `tracer.image` (to read a kernel's facts); no
processes, sockets, gdb or Textual, and nothing from probes, target, capture or the readers.
"""
