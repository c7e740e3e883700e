"""Read a custom job's replica logs in bounded chunks: whole, or their last lines, never more than a byte budget.

A log can be hundreds of megabytes. Nothing here holds more than one chunk: the route streams what `stream` yields,
from a worker thread (Starlette iterates a plain iterator in its thread pool), so the event loop and the
predictions it serves never wait on a log read. The route splits its byte budget evenly between the replicas; a log
cut by it starts with a line saying how many bytes were left out.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

CHUNK_BYTES = 64 * 1024


def start_of_last_lines(log, size: int, lines: int, budget: int) -> int:
    """Offset where the last `lines` lines begin, looking back at most `budget` bytes from `size`."""
    floor = max(0, size - budget)
    position, newlines = size, 0
    if size and _byte_at(log, size - 1) == b"\n":
        newlines = -1  # the final newline ends the last line; it does not start one
    while position > floor:
        step = min(CHUNK_BYTES, position - floor)
        log.seek(position - step)
        block = log.read(step)
        for index in range(len(block) - 1, -1, -1):
            if block[index] == 0x0A:
                newlines += 1
                if newlines == lines:
                    return position - step + index + 1
        position -= step
    return floor


def _byte_at(log, offset: int) -> bytes:
    log.seek(offset)
    return log.read(1)


@dataclasses.dataclass(frozen=True)
class Slice:
    """What to send of one log: bytes [start, end); `cut` when the byte budget, not the request, set `start`."""

    start: int
    end: int
    cut: bool


def plan(path: Path, tail_lines: int | None, budget: int) -> Slice:
    """The last `tail_lines` lines of one log, else all of it, within `budget` bytes counted back from the end.
    `end` is the size now: a log still being written is not chased."""
    with path.open("rb") as log:
        size = log.seek(0, os.SEEK_END)
        floor = max(0, size - budget)
        if tail_lines is not None:
            start = start_of_last_lines(log, size, tail_lines, budget) if tail_lines else size
            return Slice(start, size, cut=start == floor > 0)
        return Slice(next_line_start(log, floor, size) if floor else 0, size, cut=floor > 0)


def next_line_start(log, offset: int, size: int) -> int:
    """The first offset at or after `offset` that begins a line (size if none does)."""
    position = offset - 1
    log.seek(position)
    while position < size:
        block = log.read(CHUNK_BYTES)
        if not block:
            break
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)
    return size


def chunks(path: Path, start: int, end: int) -> Iterator[str]:
    """The bytes [start, end) of a log as text, one chunk at a time (invalid UTF-8 replaced, never split)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with path.open("rb") as log:
        log.seek(start)
        remaining = end - start
        while remaining > 0 and (block := log.read(min(CHUNK_BYTES, remaining))):
            remaining -= len(block)
            yield decoder.decode(block)
    yield decoder.decode(b"", final=True)


def stream(files: list[Path], parts: list[Slice]) -> Iterator[str]:
    """Several logs one after the other, each headed `==> workerpoolN-M <==` when there are several."""
    for index, (path, part) in enumerate(zip(files, parts, strict=True)):
        separator = "\n" if index else ""
        yield f"{separator}==> {path.stem} <==\n" if len(files) > 1 else separator
        if part.cut:
            yield f"[vertex-local: the first {part.start} bytes of this log are left out; see ?tail=N]\n"
        yield from chunks(path, part.start, part.end)


def tail_text(path: Path, lines: int, budget: int = CHUNK_BYTES) -> str:
    """The last `lines` lines of a log, for a failed job's error message ("" if there is no log)."""
    try:
        part = plan(path, lines, budget)
    except FileNotFoundError:
        return ""
    return "".join(chunks(path, part.start, part.end)).rstrip("\n")
