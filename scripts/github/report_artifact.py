"""The `accuracy-report` artifact of a pull request run, read as untrusted data: two files, or nothing.

A pull request from a fork builds this artifact with its own pr.yml, so it can hold anything. It is never
unpacked to disk: read_report() takes the zip GitHub serves and returns the two texts it may hold,
report.md and pr-number.txt, refusing the whole artifact (ArtifactError) on any other entry (a path such as
`x/../../f`, a folder, a duplicate), a link or other non-regular file, a file over its size cap, text that is
not UTF-8, a PR number that is not a plain positive integer, or anything zipfile fails on.
"""

from __future__ import annotations

import dataclasses
import io
import re
import stat
import zipfile

ARTIFACT = "accuracy-report"  # pr.yml uploads it; report-comment.yml reads it
REPORT_FILE = "report.md"
PR_NUMBER_FILE = "pr-number.txt"
# The comment shows at most 65,536 characters; the report scripts.report writes is about 10 KB.
SIZE_CAPS = {REPORT_FILE: 512 * 1024, PR_NUMBER_FILE: 32}
MAX_ARTIFACT_BYTES = 2 * 1024 * 1024  # the zip as downloaded
PR_NUMBER = re.compile(r"[1-9][0-9]{0,9}\n?")


class ArtifactError(ValueError):
    """The artifact is not the two files pr.yml writes; nothing of it is used."""


@dataclasses.dataclass(frozen=True)
class Report:
    markdown: str
    pr_number: int


def read_report(archive: bytes) -> Report:
    """The report and PR number in the artifact's zip, or ArtifactError naming what is wrong."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            texts = {info.filename: _read_entry(zipped, info) for info in _checked_entries(zipped)}
    except ArtifactError:
        raise
    except Exception as exc:  # the bytes are a fork's: whatever zipfile raises on them is a refusal
        # BadZipFile is only the start: zlib.error, ValueError (a negative seek), NotImplementedError (a zip
        # version), UnicodeDecodeError (a name flagged UTF-8), bz2's OSError, lzma.LZMAError, EOFError, ...
        raise ArtifactError(f"not a readable zip ({type(exc).__name__}: {exc})") from None
    number = texts[PR_NUMBER_FILE]
    if not PR_NUMBER.fullmatch(number):
        raise ArtifactError(f"{PR_NUMBER_FILE} holds {number[:20]!r}, not a pull request number")
    return Report(texts[REPORT_FILE], int(number))


def _checked_entries(zipped: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Exactly one entry per expected name, each a regular file within its cap."""
    entries = zipped.infolist()
    names = [info.filename for info in entries]
    for name in names:
        if name not in SIZE_CAPS:
            raise ArtifactError(f"unexpected entry {name[:80]!r}: only {sorted(SIZE_CAPS)} are accepted")
    for name in SIZE_CAPS:
        if names.count(name) != 1:
            raise ArtifactError(f"{name} appears {names.count(name)} times, expected once")
    for info in entries:
        mode = info.external_attr >> 16  # Unix mode; a zip tool may leave the file type bits out
        if info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise ArtifactError(f"{info.filename} is not a regular file (mode {stat.filemode(mode)})")
        if info.file_size > SIZE_CAPS[info.filename]:
            raise ArtifactError(f"{info.filename} is {info.file_size:,} bytes, over {SIZE_CAPS[info.filename]:,}")
    return entries


def _read_entry(zipped: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """The entry's text; its stated size is not trusted, so at most cap + 1 bytes are inflated."""
    cap = SIZE_CAPS[info.filename]
    try:
        with zipped.open(info) as entry:
            data = entry.read(cap + 1)
    except Exception as exc:  # encrypted, unknown method, bad CRC, a damaged stream: a refusal
        raise ArtifactError(f"{info.filename} cannot be read ({type(exc).__name__}: {exc})") from None
    if len(data) > cap:
        raise ArtifactError(f"{info.filename} inflates past {cap:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{info.filename} is not UTF-8 text") from None
