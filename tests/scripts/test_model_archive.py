"""github.model_archive: model.tar.gz packed from regular files, and every archive that breaks a rule refused whole.

The hostile archives are written here with tarfile itself, as someone who could publish a Release asset would.
The seeding step's tests (test_seed_production.py) run the same archives through a real vertex-local.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.github.model_archive import ArchiveError, Limits, pack, unpack

Members = list[tuple[tarfile.TarInfo, bytes]]
ROOMY = Limits(max_archive_bytes=1 << 20, max_unpacked_bytes=1 << 20, max_files=16)
MODEL_FILES = {
    "saved_model.pb": b"graph" * 100,
    "fingerprint.pb": b"fp",
    "variables/variables.index": b"index",
    "variables/variables.data-00000-of-00001": os.urandom(4096),
    "metrics.json": b'{"schema_version": 1}',
}


def model_dir(root: Path, files: dict[str, bytes] = MODEL_FILES) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def file_member(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special_member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def hostile(path: Path, members: Members) -> Path:
    """A .tar.gz of exactly these members, written by tarfile (which checks none of our rules)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def test_a_model_dir_packs_and_unpacks_to_the_same_files_and_the_same_bytes_every_time(tmp_path: Path) -> None:
    source = model_dir(tmp_path / "model")
    first, second = tmp_path / "a" / "model.tar.gz", tmp_path / "b" / "model.tar.gz"
    first.parent.mkdir(), second.parent.mkdir()
    assert pack(source, first, ROOMY) == sorted(MODEL_FILES)
    pack(source, second, ROOMY)
    assert first.read_bytes() == second.read_bytes()  # no times, owners or file names inside
    assert sorted(unpack(first, tmp_path / "out", ROOMY)) == sorted(MODEL_FILES)
    for name, data in MODEL_FILES.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    with tarfile.open(first) as tar:
        assert {(m.mode, m.mtime, m.uid, m.uname) for m in tar.getmembers()} == {(0o644, 0, 0, "")}
    assert not list(tmp_path.glob("**/*.partial"))


def test_packing_refuses_a_link_in_the_model_dir(tmp_path: Path) -> None:
    source = model_dir(tmp_path / "model")
    (source / "assets").symlink_to("/etc")
    with pytest.raises(ArchiveError, match="assets is not a regular file"):
        pack(source, tmp_path / "model.tar.gz", ROOMY)
    assert not (tmp_path / "model.tar.gz").exists()


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        (Limits(1 << 20, 1 << 20, 4), "5 files, over the limit of 4"),
        (Limits(1 << 20, 4096, 16), "bytes of files, over the limit of 4,096"),
        (Limits(1024, 1 << 20, 16), "model.tar.gz would be over 1,024 bytes"),
    ],
)
def test_packing_refuses_a_model_over_the_limits_pull_requests_apply(tmp_path: Path, limits: Limits, says: str) -> None:
    with pytest.raises(ArchiveError, match=says):
        pack(model_dir(tmp_path / "model"), tmp_path / "model.tar.gz", limits)
    assert not (tmp_path / "model.tar.gz").exists() and not (tmp_path / "model.tar.gz.partial").exists()


HOSTILE: dict[str, tuple[Callable[[Path], Members], str]] = {
    "a name climbing out": (lambda _: [file_member("metrics.json"), file_member("../escaped.txt")], "not a plain"),
    "a name climbing out deeper": (lambda _: [file_member("variables/../../escaped.txt")], "not a plain relative path"),
    "an absolute name": (lambda outside: [file_member(f"{outside}/escaped-absolute.txt")], "not a plain"),
    "a dot part": (lambda _: [file_member("./saved_model.pb")], "not a plain relative path"),
    "a backslash": (lambda _: [file_member("..\\escaped.txt")], "not a plain relative path"),
    "a control character": (lambda _: [file_member("saved\nmodel.pb")], "not a plain relative path"),
    "a 300-byte name": (lambda _: [file_member("n" * 300)], "a part over 255 bytes"),
    "a 300-byte folder name": (lambda _: [file_member("d" * 300 + "/saved_model.pb")], "a part over 255 bytes"),
    "a 300-byte name in UTF-8": (lambda _: [file_member("é" * 150)], "a part over 255 bytes"),
    "a name past the path limit": (lambda _: [file_member("/".join(["p" * 200] * 30))], "over 4,096 bytes"),
    "a symbolic link": (lambda _: [special_member("saved_model.pb", tarfile.SYMTYPE, "/etc/passwd")], "not a regular"),
    "a hard link": (lambda _: [file_member("a"), special_member("b", tarfile.LNKTYPE, "a")], "not a regular file"),
    "a folder": (lambda _: [special_member("variables", tarfile.DIRTYPE)], "not a regular file"),
    "a device": (lambda _: [special_member("tty", tarfile.CHRTYPE)], "not a regular file"),
    "a fifo": (lambda _: [special_member("pipe", tarfile.FIFOTYPE)], "not a regular file"),
    "a repeated name": (lambda _: [file_member("metrics.json"), file_member("metrics.json", b"y")], "appears twice"),
    "a file that is also a folder": (lambda _: [file_member("variables"), file_member("variables/x")], "appears twice"),
    "an oversize member": (lambda _: [file_member("saved_model.pb", b"\0" * 5000)], "5,000 bytes of files, over"),
    "too many members": (lambda _: [file_member(f"f{i}") for i in range(9)], "more than 8 files"),
}
SMALL = Limits(max_archive_bytes=1 << 20, max_unpacked_bytes=4096, max_files=8)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_archive_breaking_a_rule_is_refused_whole_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    members, says = HOSTILE[case]
    archive = hostile(tmp_path / "model.tar.gz", members(tmp_path))
    dest = tmp_path / "deep" / "scratch" / "model"
    with pytest.raises(ArchiveError, match=says):
        unpack(archive, dest, SMALL)
    assert not dest.exists()
    assert not list(tmp_path.rglob("escaped*"))


def test_an_archive_over_the_download_limit_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not even gzip" * 100)
    with pytest.raises(ArchiveError, match="1,300 bytes, over the limit of 1,000"):
        unpack(archive, tmp_path / "model", Limits(1000, 1 << 20, 8))
    assert not (tmp_path / "model").exists()


def test_a_small_archive_that_inflates_past_the_limit_is_refused_while_inflating(tmp_path: Path) -> None:
    archive = hostile(tmp_path / "model.tar.gz", [file_member("saved_model.pb", b"\0" * (16 << 20))])
    assert archive.stat().st_size < 100_000  # 16 MiB of zeros compress to next to nothing
    with pytest.raises(ArchiveError, match="inflates to over"):
        unpack(archive, tmp_path / "model", Limits(1 << 20, 1 << 20, 8))
    assert not (tmp_path / "model").exists()


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not gzip": (lambda data: b"PK\3\4" + data, "is not a complete gzip file"),
    "cut in half": (lambda data: data[: len(data) // 2], "is not a complete gzip file"),
    "gzip of no tar": (lambda _: gzip.compress(b"hi"), "not a tar archive"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_archive_is_refused_with_one_reason(tmp_path: Path, damage: str) -> None:
    archive = tmp_path / "model.tar.gz"
    pack(model_dir(tmp_path / "source"), archive, ROOMY)
    spoil, says = DAMAGE[damage]
    archive.write_bytes(spoil(archive.read_bytes()))
    with pytest.raises(ArchiveError, match=says):
        unpack(archive, tmp_path / "model", ROOMY)
    assert not (tmp_path / "model").exists()


def test_limits_that_are_not_positive_are_refused() -> None:
    with pytest.raises(ArchiveError, match=r"release\.max_unpacked_bytes = 0: expected a positive number"):
        Limits(1, 0, 1).check()
