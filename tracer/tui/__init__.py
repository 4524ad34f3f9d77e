"""The Textual TUI: `tracer tui trace.db` (replay) or `tracer tui` (live capture).

app.py is thin; screens/ holds the main, live and modal screens; widgets/ one module per area
(timeline, CPU, pt_regs, TLS, entry path, console, findings, graph); view_models/ the pure
functions that decide what each pane shows; tracer.tcss every colour. Importing this package
does not import Textual; `tracer.tui.app` does.

A reader: it imports events, decode, analysis, image, export, the store and (live mode only,
through `capture_feed`) capture; never probes, target or commands.
"""
