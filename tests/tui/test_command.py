"""`tracer tui` as a command: its arguments, its errors, and the screenshots it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import RECORDED
from tracer.cli import main
from tracer.tui import screenshots


def test_a_missing_trace_is_a_usage_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["tui", str(tmp_path / "nope.db")]) == 2
    assert "no such trace file" in capsys.readouterr().err


def test_not_a_trace_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "text.db"
    path.write_text("hello")
    assert main(["tui", str(path)]) == 2
    assert "not a trace file" in capsys.readouterr().err


def test_live_mode_needs_a_terminal(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["tui"]) == 2  # pytest's stdout is not a terminal
    assert "needs a terminal" in capsys.readouterr().err


def test_screenshots_need_a_trace(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["tui", "--screenshots", "out"]) == 2
    assert "--screenshots needs a trace file" in capsys.readouterr().err


def test_tui_takes_every_capture_option() -> None:
    from tracer.cli import build_parser

    args = build_parser().parse_args(
        ["tui", "--program", "/bin/true", "--args", "-x 1", "--cmdline", "tls=osv", "-o", "t.db"]
    )
    assert args.trace is None and args.cmdline == "tls=osv" and str(args.output) == "t.db"
    assert args.programs == [["/bin/true", ["-x", "1"]]]


def test_screenshots_are_written(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    one = (screenshots.Shot("cpu", (80, 24), lambda events: 68, ("1",)),)
    monkeypatch.setattr(screenshots, "SHOTS", one)
    written = screenshots.write_screenshots(RECORDED, tmp_path, shots=one)
    svg = tmp_path / "cpu.svg"
    assert svg in written and "arch_prctl" in svg.read_text()
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):  # OSError: cairosvg installed, libcairo2 not
        pytest.skip("cairosvg (with libcairo2) is not installed: SVG only")
    assert (tmp_path / "cpu.png").stat().st_size > 10_000


def test_a_program_in_place_of_a_trace_says_how_to_watch_it(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["tui", "/bin/true"]) == 2
    err = capsys.readouterr().err
    assert "an executable, not a trace file" in err and "tracer tui --program /bin/true" in err
    assert len(err.splitlines()) == 1
