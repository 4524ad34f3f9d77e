"""Traces written for other tools: ftrace's function_graph text, Chrome trace JSON, Perfetto
protobuf, JSON lines; `labels` names call-tree nodes and events the same way for all of them.

Pure (events and call trees in, text or bytes out). May import `tracer.events`, `tracer.decode`
and `tracer.analysis`; not `tracer.report`, the store, probes, target, or Textual.
"""
