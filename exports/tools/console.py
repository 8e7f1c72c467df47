"""What the demo shows on the terminal: its progress bar, and the alert emails it holds
until it prints them."""

from __future__ import annotations

import sys
from io import StringIO
from typing import Any

from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend

from exports.models import ExportRun


class HeldConsoleBackend(ConsoleEmailBackend):
    """The console email backend, its output held until the demo shows it: the worker
    thread sends an alert while the demo prints something else."""

    held = StringIO()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "stream": self.held})

    @classmethod
    def take(cls) -> str:
        text = cls.held.getvalue()
        cls.held.seek(0)
        cls.held.truncate()
        return text


class ProgressBar:
    """A one-line bar on stderr of the records a run has attempted out of its backlog,
    redrawn in place on a terminal; elsewhere (a log, a pipe) a line per tenth of the way,
    never `\r` redraws piled onto one line."""

    width = 40

    def __init__(self, total: int, terminal: bool | None = None) -> None:
        self.total = total
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.shown = -1  # the last tenth written (not on a terminal)

    def __call__(self, run: ExportRun, backlog: int) -> None:
        done = min(run.attempted, self.total)
        filled = self.width * done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        line = f"  [{bar}] {done:>6,}/{self.total:,} records"
        if self.terminal:
            sys.stderr.write("\r" + line)
        else:
            tenth = 10 * done // self.total if self.total else 10
            if tenth == self.shown:
                return
            self.shown = tenth
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.terminal:
            sys.stderr.write("\n")
            sys.stderr.flush()
