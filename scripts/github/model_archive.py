"""A model directory as one Release asset, model.tar.gz: packed from regular files, and read back defensively.

pack() writes the files of a model dir (SavedModel + metrics.json) sorted, with no owner and a fixed mode and
time, so the same model packs to the same bytes. unpack() trusts nothing in an archive, although only
release.yml's own jobs publish one: the archive is at most `max_archive_bytes`, its gzip stream is decompressed to a
scratch file under a cap before tar reads a header, and the whole archive is refused, with nothing left behind,
unless every member is a regular file with a plain relative name (no `..`, no absolute path, no repeats) and the
members stay within `max_files` and `max_unpacked_bytes`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

ARCHIVE_NAME = "model.tar.gz"
CHUNK = 1 << 20
HEADER_ALLOWANCE = 4 * tarfile.BLOCKSIZE  # per member: its header, a pax header for long names, their padding
FILE_MODE = 0o644
# Linux's NAME_MAX and PATH_MAX, in bytes: a longer part or name cannot be created (ENAMETOOLONG), so it is refused
# as a rule before anything is written, not met as an OSError halfway through.
MAX_PART_BYTES = 255
MAX_NAME_BYTES = 4096


class ArchiveError(ValueError):
    """An archive that will not be packed or unpacked; the message says which rule it broke."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """[release] in pipeline.toml: Limits(**dataclasses.asdict(cfg.release))."""

    max_archive_bytes: int  # the .tar.gz as stored
    max_unpacked_bytes: int  # its files' contents together
    max_files: int  # members

    def check(self) -> Limits:
        bad = [field.name for field in dataclasses.fields(self) if not getattr(self, field.name) > 0]
        if bad:
            raise ArchiveError(f"release.{bad[0]} = {getattr(self, bad[0])!r}: expected a positive number")
        return self

    @property
    def tar_bytes(self) -> int:
        """The most the decompressed tar stream may hold: contents, per-member headers, the end-of-archive record."""
        return self.max_unpacked_bytes + self.max_files * HEADER_ALLOWANCE + tarfile.RECORDSIZE * 2


def pack(model_dir: Path, archive: Path, limits: Limits) -> list[str]:
    """Write `archive` from every file under `model_dir`; refused when a file is not regular or a cap is passed."""
    paths = sorted(path for path in model_dir.rglob("*") if not (path.is_dir() and not path.is_symlink()))
    names = [path.relative_to(model_dir).as_posix() for path in paths]
    not_regular = [name for name, path in zip(names, paths, strict=True) if path.is_symlink() or not path.is_file()]
    if not_regular:
        raise ArchiveError(f"{model_dir}/{not_regular[0]} is not a regular file")
    check_totals(len(paths), sum(path.stat().st_size for path in paths), limits)
    partial = archive.with_name(archive.name + ".partial")
    with (
        partial.open("wb") as raw,
        gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in zip(names, paths, strict=True):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, FILE_MODE, 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    if partial.stat().st_size > limits.max_archive_bytes:
        partial.unlink()
        raise ArchiveError(f"{archive.name} would be over {limits.max_archive_bytes:,} bytes")
    partial.replace(archive)  # whoever sees the archive sees all of it
    return names


def unpack(archive: Path, dest: Path, limits: Limits) -> list[str]:
    """The archive's files under `dest` (created here; it must not exist); any refusal leaves no `dest` behind."""
    size = archive.stat().st_size
    if size > limits.max_archive_bytes:
        raise ArchiveError(f"{archive.name} is {size:,} bytes, over the limit of {limits.max_archive_bytes:,}")
    dest.mkdir(parents=True)
    try:
        with tempfile.TemporaryFile() as tar_stream:
            decompress(archive, tar_stream, limits.tar_bytes)
            tar_stream.seek(0)
            return extract(tar_stream, dest, limits)
    except BaseException:
        shutil.rmtree(dest)
        raise


def decompress(archive: Path, out, cap: int) -> None:
    """The gzip stream into `out`, refusing it once it passes `cap` bytes (a small archive can inflate to terabytes)."""
    written = 0
    try:
        with gzip.open(archive, "rb") as stream:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    raise ArchiveError(f"{archive.name} inflates to over {cap:,} bytes")
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise ArchiveError(f"{archive.name} is not a complete gzip file ({exc})") from None


def extract(tar_stream, dest: Path, limits: Limits) -> list[str]:
    """Check every member first, then write them; nothing is written for an archive that breaks a rule."""
    try:
        with tarfile.open(fileobj=tar_stream, mode="r:") as tar:
            members = read_headers(tar, limits)
            names = check_members(members, limits)
            for member, name in zip(members, names, strict=True):
                write_member(tar, member, dest / name)
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a tar archive ({exc})") from None
    except OSError as exc:  # what no rule foresaw (a full disk, a name the file system refuses): still a refusal
        raise ArchiveError(f"its files cannot be written ({exc.strerror or exc})") from None
    return names


def read_headers(tar: tarfile.TarFile, limits: Limits) -> list[tarfile.TarInfo]:
    """Every member's header, stopping at the first one past the file limit (headers alone can fill memory)."""
    members: list[tarfile.TarInfo] = []
    while (member := tar.next()) is not None:
        members.append(member)
        if len(members) > limits.max_files:
            raise ArchiveError(f"more than {limits.max_files:,} files, the limit")
    return members


def check_members(members: list[tarfile.TarInfo], limits: Limits) -> list[str]:
    """Each member's checked relative name; the first rule broken refuses the archive."""
    check_totals(len(members), sum(max(member.size, 0) for member in members), limits)
    names: list[str] = []
    for member in members:
        if not member.isreg() or member.issparse():
            raise ArchiveError(f"member {member.name!r} is not a regular file (a link, a folder or a device)")
        names.append(plain_name(member.name))
    folders = {str(parent) for name in names for parent in PurePosixPath(name).parents}
    clashes = sorted(set(names) & folders) or sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ArchiveError(f"member {clashes[0]!r} appears twice (or as a file and a folder)")
    return names


def plain_name(name: str) -> str:
    """A relative name of ordinary parts: no absolute path, `..`, `.`, empty part, backslash or control character."""
    parts = name.split("/")
    printable = all(ord(char) >= 0x20 and char != "\x7f" for char in name)
    if not name or name.startswith("/") or "\\" in name or not printable or any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"member name {name[:120]!r} is not a plain relative path")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ArchiveError(f"member name {name[:120]!r}... is over {MAX_NAME_BYTES:,} bytes")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_PART_BYTES for part in parts):
        raise ArchiveError(f"member name {name[:120]!r} has a part over {MAX_PART_BYTES} bytes")
    return name


def check_totals(count: int, total: int, limits: Limits) -> None:
    if count > limits.max_files:
        raise ArchiveError(f"{count:,} files, over the limit of {limits.max_files:,}")
    if total > limits.max_unpacked_bytes:
        raise ArchiveError(f"{total:,} bytes of files, over the limit of {limits.max_unpacked_bytes:,}")


def write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """One regular file, created new (never through an existing name), holding exactly the member's bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveError(f"member {member.name!r} has no contents")
    with source, target.open("xb") as out:
        shutil.copyfileobj(source, out, CHUNK)
        if out.tell() != member.size:
            raise ArchiveError(f"member {member.name!r} is cut short")
    target.chmod(FILE_MODE)
