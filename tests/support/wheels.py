"""Tiny real wheels for custom job tests, written as pip reads them (PEP 427): no build step, nothing downloaded.

wheel(folder, "app", {"app/__main__.py": "..."}, requires=["helper"]) -> folder/app-0.1-py3-none-any.whl
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

WHEEL_FILE = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(folder: Path, name: str, files: dict[str, str], requires: list[str] = (), version: str = "0.1") -> Path:
    """A wheel of `files` (path in the wheel -> text) that depends on `requires`."""
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    contents = {**{path: text.encode() for path, text in files.items()},
                f"{info}/METADATA": metadata.encode(), f"{info}/WHEEL": WHEEL_FILE.encode()}  # fmt: skip
    record = [record_line(path, data) for path, data in contents.items()] + [f"{info}/RECORD,,"]
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in contents.items():
            archive.writestr(member, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path
