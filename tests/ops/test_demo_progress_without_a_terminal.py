"""The demo's progress bar redraws in place only on a terminal; in a log or a pipe it
writes a line per tenth of the way, never `\\r` redraws piled onto one line."""

from __future__ import annotations

import pytest

from exports.models import ExportRun
from exports.tools.console import ProgressBar


def test_without_a_terminal_a_line_per_tenth(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar(1_000, terminal=False)
    for attempted in range(0, 1_001, 50):
        bar(ExportRun(attempted=attempted), 0)
    bar.done()

    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 11  # 0 %, 10 %, ..., 100 %
    assert lines[-1].endswith("1,000/1,000 records")


def test_on_a_terminal_it_redraws_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar(100, terminal=True)
    bar(ExportRun(attempted=40), 0)
    bar(ExportRun(attempted=100), 0)
    bar.done()

    err = capsys.readouterr().err
    assert err.count("\r") == 2 and err.endswith("100/100 records\n")
