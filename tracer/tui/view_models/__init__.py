"""What the TUI's panes show, built by pure functions from a trace source: no Textual here.

Each module answers one pane's question for one moment of the trace (the selected event), so
the panes can be tested without a terminal and the widgets stay thin. They read the store's
`TraceSource`, events, decode, analysis and export's labels.
"""
