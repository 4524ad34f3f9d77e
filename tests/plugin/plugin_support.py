"""What the plugin tests share: how to load the plugin in an inner pytest run."""

from __future__ import annotations

import importlib.metadata

# Plugins that keep process-wide state and break when pytest runs inside pytest (in-process).
IN_PROCESS_MISFITS = ("textual-snapshot",)


def plugin_args() -> list[str]:
    """`-p tracer.pytest_plugin`, unless the installed package's pytest11 entry point already
    loads it (loading it twice would be an error)."""
    args = [f"-pno:{name}" for name in IN_PROCESS_MISFITS]
    for entry in importlib.metadata.entry_points(group="pytest11"):
        if entry.value.split(":")[0] == "tracer.pytest_plugin":
            return args
    return [*args, "-p", "tracer.pytest_plugin"]
