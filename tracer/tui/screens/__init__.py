"""The TUI's screens: the main view, the live view over a running capture, and the modal ones
they open. Screens own widget state; a capture is reached only through `capture_feed`'s
messages, never called from a handler."""
