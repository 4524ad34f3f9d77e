"""The view models and the open trace are pure: importing them does not import Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VIEW_MODELS = Path(__file__).resolve().parents[2] / "tracer" / "tui" / "view_models"


def test_view_models_import_without_textual() -> None:
    modules = sorted(f"tracer.tui.view_models.{p.stem}" for p in VIEW_MODELS.glob("*.py"))
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in [*modules, "tracer.tui.open_trace"])
        + "assert 'textual' not in sys.modules, 'textual imported by a view model'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
