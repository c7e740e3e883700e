"""A virtualenv that holds exactly an image's Python packages, linked from the shared venv instead of installed.

Installing TensorFlow into a fresh venv takes minutes; the shared venv already holds the very versions the image
pins. So: a fresh `venv --without-pip` of the system's Python, and in its site-packages a symlink for every file
of the wanted distributions and of what they require (read from their metadata, markers evaluated), nothing else.
A package the image lacks (google-cloud-aiplatform, say) cannot be imported there, even one that shares the
`google` namespace with a package it has. Their compiled caches are linked too: a cache records its source's
mtime and size, which a symlink's target keeps, so Python takes them as valid.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def pinned_names(requirements: Path) -> list[str]:
    """The distribution names a requirements file pins (comments and `-r` lines ignored)."""
    names = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0])
    return names


def closure(names: Iterable[str]) -> dict[str, importlib.metadata.Distribution]:
    """The distributions named and everything they require, by canonical name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    wanted = [Requirement(name) for name in names]
    while wanted:
        requirement = wanted.pop()
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        distribution = importlib.metadata.distribution(requirement.name)
        found[key] = distribution
        for text in distribution.requires or []:
            required = Requirement(text)
            extras = requirement.extras or {""}
            if required.marker is None or any(required.marker.evaluate({"extra": extra}) for extra in extras):
                wanted.append(required)
    return found


def linked_venv(root: Path, names: Iterable[str], base_python: str) -> Path:
    """A venv at `root` whose site-packages links only these distributions' files; returns its python."""
    subprocess.run([base_python, "-m", "venv", "--without-pip", "--clear", str(root)], check=True, timeout=120)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = root / "lib" / version / "site-packages"
    for distribution in closure(names).values():
        for file in distribution.files or []:
            # Scripts in bin/ stay out. The compiled caches (__pycache__) come along: they were compiled from these
            # very sources, so the image's Python imports TensorFlow from them instead of compiling its thousands
            # of modules again at every start (half the import's CPU time).
            if file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.symlink(distribution.locate_file(file), target)
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o755)  # the image's user runs it
    return root / "bin" / "python"
