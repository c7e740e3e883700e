"""Stand-ins for the suite's tests/data files, which the sdist leaves out.

Same names and about the same sizes, seeded random bytes: the tests compare what they upload with what they read
back and guess content types from the names. One test states a checksum of its file: test_blob.py uploads
random_9_MiB_file claiming crc32c 20tD7w== (and claims A0tD7w== to be refused), so that stand-in ends with the four
bytes that give it exactly that CRC32C (CRC32C is affine in the message bits: solved over GF(2)).
"""

from __future__ import annotations

import base64
import random
from pathlib import Path

import google_crc32c

SIZES = {
    "CloudPlatform_128px_Retina.png": 9_216,
    "five-point-one-mb-file.zip": 5_348_311,
    "random_9_MiB_file": 9 * 1024 * 1024,
}
STATED_CRC32C = {"random_9_MiB_file": "20tD7w=="}
SIMPLE_TEXT = b"This is a simple text file.\n"


def crc32c_tail(prefix: bytes, wanted: str) -> bytes:
    """Four bytes that, appended to `prefix`, make its CRC32C the base64 value `wanted`."""
    state = google_crc32c.value(prefix)
    zero = google_crc32c.extend(state, bytes(4))
    target = int.from_bytes(base64.b64decode(wanted), "big") ^ zero
    basis: list[tuple[int, int]] = []  # (effect on the CRC, tail bits that cause it), reduced to distinct top bits
    for bit in range(32):
        effect, cause = google_crc32c.extend(state, (1 << bit).to_bytes(4, "little")) ^ zero, 1 << bit
        for value, bits in basis:
            if effect ^ value < effect:
                effect, cause = effect ^ value, cause ^ bits
        if effect:
            basis = sorted([*basis, (effect, cause)], reverse=True)
    tail = 0
    for value, bits in basis:
        if target ^ value < target:
            target, tail = target ^ value, tail ^ bits
    if target:
        raise ValueError(f"no four-byte tail gives CRC32C {wanted}")
    return tail.to_bytes(4, "little")


def stand_in(name: str, size: int) -> bytes:
    data = random.Random(name).randbytes(size)
    if name in STATED_CRC32C:
        data = data[:-4] + crc32c_tail(data[:-4], STATED_CRC32C[name])
    return data


def write_data_files(suite_root: Path) -> None:
    data = suite_root / "tests" / "data"
    data.mkdir(exist_ok=True)
    for name, size in SIZES.items():
        path = data / name
        if not path.is_file() or path.stat().st_size != size:
            path.write_bytes(stand_in(name, size))
    (data / "simple.txt").write_bytes(SIMPLE_TEXT)
