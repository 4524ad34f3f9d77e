"""The TUI's widgets, one module per area of the screen; each draws what a view model built.
They import view models, `events` and Textual; never probes, target, capture or commands."""
