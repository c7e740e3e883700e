"""A separate virtualenv with TensorFlow 2.15, Vertex's newest serving runtime, installed once (once.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.once import installed_once
from tests.support.vertex_local_server import REPO_ROOT

TF215_VENV = REPO_ROOT / ".venv-tf215"  # ignored by git; built once, reused by later runs


TF215_REQUIREMENT = "tensorflow-cpu==2.15.1"


def tf215_python() -> Path:
    """The interpreter of a separate virtualenv with TensorFlow 2.15, created on first use."""
    python = TF215_VENV / "bin" / "python"

    def install() -> None:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(TF215_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", TF215_REQUIREMENT],
            check=True,
            timeout=900,
        )

    installed_once(TF215_VENV, f".installed-{TF215_REQUIREMENT}", install)  # one worker installs, others wait
    return python
