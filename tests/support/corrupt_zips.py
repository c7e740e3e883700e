"""Zips damaged the ways a fork's artifact could be, each one raising a different exception inside zipfile.

zipfile turns a damaged archive into more than BadZipFile: each function here takes a good zip (deflated
entries, as upload-artifact writes them) and returns it with one field changed, found by hand and by a byte
fuzzer, and named for the exception zipfile raises on it (Python 3.11).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

LOCAL_HEADER, CENTRAL_RECORD, END_RECORD = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"


def bad_deflate_stream(archive: bytes) -> bytes:
    """zlib.error: the first entry's deflate stream opens with block type 3, which does not exist."""
    data = bytearray(archive)
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    data[30 + name_length + extra_length] = 0xFF
    return bytes(data)


def negative_directory_offset(archive: bytes) -> bytes:
    """ValueError (negative seek value): the end record puts the central directory before the file's start."""
    data = bytearray(archive)
    end = data.rfind(END_RECORD)
    struct.pack_into("<I", data, end + 16, len(data))
    return bytes(data)


def future_zip_version(archive: bytes) -> bytes:
    """NotImplementedError (zip file version 22.4): the first central record needs a newer zip to extract."""
    data = bytearray(archive)
    data[data.find(CENTRAL_RECORD) + 6] = 224
    return bytes(data)


def name_not_utf8(archive: bytes) -> bytes:
    """UnicodeDecodeError: the first central record says its name is UTF-8 (flag bit 11), and it is not."""
    data = bytearray(archive)
    record = data.find(CENTRAL_RECORD)
    flags = struct.unpack_from("<H", data, record + 8)[0]
    struct.pack_into("<H", data, record + 8, flags | 0x800)
    data[record + 46] = 0x9F
    return bytes(data)


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "zlib.error": bad_deflate_stream,
    "ValueError": negative_directory_offset,
    "NotImplementedError": future_zip_version,
    "UnicodeDecodeError": name_not_utf8,
}
