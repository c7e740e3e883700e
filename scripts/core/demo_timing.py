"""Where the demo's time goes: named phases in the order they ran, printed as a table when it ends."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path


@dataclasses.dataclass
class Phases:
    """Where the demo's time went: seconds and a note per phase, in the order they ran; printed at the end."""

    rows: dict[str, tuple[float, str]] = dataclasses.field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, name: str, note: str = "") -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.rows[name] = (time.monotonic() - began, note)

    def split(self, name: str, part: str, seconds: float, note: str) -> None:
        """Count `seconds` of phase `name` as its own phase `part`, right after it. A part that is not a number
        of seconds within the phase (a phase that never ran, a step's record gone wrong) is left out: the table
        reports what was measured, and nothing of it is worth failing the demo over."""
        rows = list(self.rows.items())
        names = [key for key, _ in rows]
        if name not in names or not isinstance(seconds, int | float):
            return
        at = names.index(name)
        total, own_note = rows[at][1]
        if not 0 <= seconds <= total:  # also false for nan
            return
        rows[at : at + 1] = [(name, (total - seconds, own_note)), (part, (seconds, note))]
        self.rows = dict(rows)

    def table(self) -> str:
        lines = [f"\n{'phase':26} {'seconds':>8}"]
        lines += [f"{name:26} {seconds:>8.1f}  {note}".rstrip() for name, (seconds, note) in self.rows.items()]
        lines.append(f"{'total':26} {sum(seconds for seconds, _ in self.rows.values()):>8.1f}")
        return "\n".join(lines)


def seconds_since_process_start() -> float | None:
    """How long this process has run: Python's start and the SDK imports, before run() has a clock (Linux)."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(after_name[19])  # field 22, starttime; the list starts at field 3
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")
