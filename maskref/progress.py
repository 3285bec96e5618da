"""A one-line progress bar for long commands, sized to the terminal.

On a terminal the line is redrawn in place and never wider than the terminal
(a wrapped line would print one line per update). Elsewhere (a log file, CI)
each update is a short line of its own.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class ProgressBar:
    """``update(done, total, label)`` redraws ``[done/total] ███░░ 12% 0:41 label``."""

    def __init__(self, stream: TextIO | None = None, *, width: int | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.start = time.perf_counter()

    def line(self, done: int, total: int, label: str) -> str:
        """The line for ``done`` of ``total``, at most the terminal's width."""
        columns = self.width or shutil.get_terminal_size((80, 24)).columns
        columns = max(columns - 1, 20)  # the last column would wrap on some terminals
        count = f"[{done:>{len(str(total))}}/{total}]"
        elapsed = _clock(time.perf_counter() - self.start)
        share = done / total if total else 1.0
        bar_width = max(min(20, columns // 4), 5)
        filled = round(share * bar_width)
        bar = "█" * filled + "░" * (bar_width - filled)
        head = f"{count} {bar} {share:4.0%} {elapsed} "
        room = columns - len(head)
        if room < 4:
            return head[:columns]
        return head + (label if len(label) <= room else label[: room - 1] + "…")

    def update(self, done: int, total: int, label: str = "") -> None:
        text = self.line(done, total, label)
        if self.live:
            end = "\n" if done >= total else ""
            print(f"\r\x1b[2K{text}", end=end, file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)
