"""The TUI's screens: the main view, and the modal ones it opens."""
