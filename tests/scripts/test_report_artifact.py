"""scripts.github.report_artifact: the accuracy-report zip a pull request run uploads, read as untrusted data.

The zips are built here with zipfile, entry by entry, the way a fork's own pr.yml could build them: names
that climb out of the folder, links, extra files, sizes over the caps and size fields that lie.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile

import pytest

from scripts import report
from scripts.github.report_artifact import PR_NUMBER_FILE, REPORT_FILE, SIZE_CAPS, ArtifactError, read_report
from tests.support.corrupt_zips import CORRUPTIONS

REPORT = f"{report.MARKER}\n## MNIST accuracy report\n"
REGULAR = stat.S_IFREG | 0o644


def entry(name: str, data: bytes | str, mode: int = REGULAR) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info, data.encode() if isinstance(data, str) else data


def build(*entries: tuple[zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for info, data in entries:
            zipped.writestr(info, data)
    return buffer.getvalue()


def good(*extra: tuple[zipfile.ZipInfo, bytes]) -> bytes:
    return build(entry(REPORT_FILE, REPORT), entry(PR_NUMBER_FILE, "17\n"), *extra)


def test_the_two_files_scripts_report_writes_are_read() -> None:
    found = read_report(good())
    assert (found.markdown, found.pr_number) == (REPORT, 17)
    assert report.PR_NUMBER_FILE == PR_NUMBER_FILE  # the name scripts.report writes


def test_entries_with_permission_bits_only_count_as_regular_files() -> None:
    assert read_report(build(entry(REPORT_FILE, REPORT, 0o644), entry(PR_NUMBER_FILE, "5", 0o600))).pr_number == 5


@pytest.mark.parametrize(
    "name",
    ["x/../../f", "../report.md", "/etc/passwd", "sub/report.md", "./report.md", "report.md/", "..\\..\\f"],
)
def test_a_name_that_is_not_exactly_an_expected_file_refuses_the_artifact(name: str) -> None:
    with pytest.raises(ArtifactError, match="unexpected entry"):
        read_report(good(entry(name, "payload")))


def test_a_traversal_entry_alone_cannot_stand_in_for_the_report() -> None:
    archive = build(entry("x/../../report.md", REPORT), entry(PR_NUMBER_FILE, "17"))
    with pytest.raises(ArtifactError, match=re.escape("unexpected entry 'x/../../report.md'")):
        read_report(archive)


@pytest.mark.parametrize("kind", [stat.S_IFLNK, stat.S_IFIFO, stat.S_IFCHR])
def test_a_link_or_other_special_file_refuses_the_artifact(kind: int) -> None:
    archive = build(entry(REPORT_FILE, "/home/runner/work/_actions", kind | 0o777), entry(PR_NUMBER_FILE, "17"))
    with pytest.raises(ArtifactError, match=re.escape("report.md is not a regular file")):
        read_report(archive)


@pytest.mark.parametrize("extra", ["index.js", "report.md.bak", ".hidden", "plots/per_class_accuracy.png"])
def test_an_unexpected_file_beside_the_two_refuses_the_artifact(extra: str) -> None:
    with pytest.raises(ArtifactError, match=re.escape(f"unexpected entry '{extra}'")):
        read_report(good(entry(extra, "x")))


def test_a_file_named_twice_refuses_the_artifact() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile writes it all the same
        archive = good(entry(PR_NUMBER_FILE, "18"))
    with pytest.raises(ArtifactError, match="appears 2 times"):
        read_report(archive)


@pytest.mark.parametrize("missing", [REPORT_FILE, PR_NUMBER_FILE])
def test_a_missing_file_refuses_the_artifact(missing: str) -> None:
    present = REPORT_FILE if missing == PR_NUMBER_FILE else PR_NUMBER_FILE
    with pytest.raises(ArtifactError, match=re.escape(f"{missing} appears 0 times")):
        read_report(build(entry(present, "17")))


@pytest.mark.parametrize("name", [REPORT_FILE, PR_NUMBER_FILE])
def test_a_file_over_its_cap_refuses_the_artifact(name: str) -> None:
    sizes = {REPORT_FILE: REPORT, PR_NUMBER_FILE: "17"}
    sizes[name] = "1" * (SIZE_CAPS[name] + 1)
    archive = build(*(entry(n, data) for n, data in sizes.items()))
    with pytest.raises(ArtifactError, match=re.escape(f"{name} is {SIZE_CAPS[name] + 1:,} bytes, over")):
        read_report(archive)


def test_a_file_exactly_at_its_cap_is_read() -> None:
    big = REPORT + "x" * (SIZE_CAPS[REPORT_FILE] - len(REPORT))
    assert len(read_report(build(entry(REPORT_FILE, big), entry(PR_NUMBER_FILE, "1"))).markdown) == len(big)


def lie_about_size(archive: bytes, name: str, stated: int) -> bytes:
    """Rewrite the uncompressed size of `name` in its local header and central directory record."""
    data = bytearray(archive)
    encoded = name.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(encoded)] == encoded:
                struct.pack_into("<I", data, start + offset, stated)
            start += 4
    return bytes(data)


def test_a_size_field_that_lies_does_not_get_a_bomb_past_the_cap() -> None:
    bomb = "0" * (50 * SIZE_CAPS[REPORT_FILE])  # deflates to a few kB
    archive = lie_about_size(build(entry(REPORT_FILE, bomb), entry(PR_NUMBER_FILE, "17")), REPORT_FILE, 100)
    assert zipfile.ZipFile(io.BytesIO(archive)).getinfo(REPORT_FILE).file_size == 100  # the lie is in place
    with pytest.raises(ArtifactError, match=re.escape(REPORT_FILE)):
        read_report(archive)


@pytest.mark.parametrize("number", ["17; rm -rf /", "-1", "0", "1e3", "", " 17", "12345678901", "17\n\n", "٣"])
def test_a_pr_number_that_is_not_a_plain_positive_integer_refuses_the_artifact(number: str) -> None:
    with pytest.raises(ArtifactError, match="not a pull request number"):
        read_report(build(entry(REPORT_FILE, REPORT), entry(PR_NUMBER_FILE, number)))


def test_text_that_is_not_utf8_refuses_the_artifact() -> None:
    with pytest.raises(ArtifactError, match="not UTF-8"):
        read_report(build(entry(REPORT_FILE, b"\xff\xfe report"), entry(PR_NUMBER_FILE, "17")))


@pytest.mark.parametrize("archive", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40])
def test_bytes_that_are_not_a_zip_refuse_the_artifact(archive: bytes) -> None:
    with pytest.raises(ArtifactError, match="not a readable zip"):
        read_report(archive)


@pytest.mark.parametrize("raised", sorted(CORRUPTIONS))
def test_a_damaged_zip_refuses_the_artifact_whatever_zipfile_raises_on_it(raised: str) -> None:
    with pytest.raises(ArtifactError, match=re.escape(raised.split(".")[-1])):
        read_report(CORRUPTIONS[raised](good()))
