"""Each replica's own Python: a venv in the job's workspace, so nothing a job installs reaches the server's Python.

Two kinds, one per kind of worker pool (README, "Custom jobs"):

- CONTAINER (containerSpec): the stand-in for a custom container's Python. The server's own packages are visible
  read-only (a .pth adds its site-packages, as the trainer image holds them), then the base interpreter's, and
  user site-packages are on, in the replica's workspace (PYTHONUSERBASE): `pip install X` and
  `pip install --user X` land in the workspace, and `pip install --upgrade pip` installs a pip beside the
  server's without touching it (pip never uninstalls outside the environment it runs in).
- PREBUILT (pythonPackageSpec): a fresh venv that holds nothing but what the job's packages bring. The server's
  pip installs into it (`pip --python`), so the server's packages are never importable there.

Making one takes about 0.1 s (no pip is copied in); `pip` and `pip3` in its bin/ run the pip described above.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import sysconfig
import venv
from pathlib import Path

CONTAINER, PREBUILT = "container", "prebuilt"
HOST_PYTHON = sys.executable  # the server's interpreter: its pip installs into prebuilt venvs
SHIM = '#!/bin/sh\nexec {command} "$@"\n'


@dataclasses.dataclass(frozen=True)
class JobPython:
    """Where one replica's venv is (it exists once `create` has run)."""

    root: Path  # the replica's workspace folder
    kind: str

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def user_base(self) -> Path:
        return self.root / "user"

    def env(self, base_path: str) -> dict[str, str]:
        """What a replica's environment gets: its venv first on PATH, and (containers) its user base."""
        env = {"PATH": f"{self.venv / 'bin'}{os.pathsep}{base_path}", "VIRTUAL_ENV": str(self.venv)}
        if self.kind == CONTAINER:
            env["PYTHONUSERBASE"] = str(self.user_base)
        return env

    def pip_install(self, packages: list[str]) -> tuple[str, ...]:
        """The command that installs packages into a prebuilt venv with the server's pip."""
        return (HOST_PYTHON, "-m", "pip", "--python", str(self.python), "install", "--no-input", *packages)


def create(job_python: JobPython) -> None:
    """Make the replica's venv (blocking; replaces one left there)."""
    container = job_python.kind == CONTAINER
    venv.EnvBuilder(system_site_packages=container, clear=True, symlinks=True, with_pip=False).create(job_python.venv)
    site_packages = job_python.venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if container:
        # addsitedir, not a plain path line: the server's own .pth files (editable installs) must apply too.
        server_sites = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
        lines = [f"import site; site.addsitedir({path!r})" for path in server_sites]
        (site_packages / "_vertex_local_server_packages.pth").write_text("\n".join(lines) + "\n")
        job_python.user_base.mkdir(parents=True, exist_ok=True)
        pip = f"{shlex.quote(str(job_python.python))} -m pip"
    else:
        pip = f"{shlex.quote(HOST_PYTHON)} -m pip --python {shlex.quote(str(job_python.python))}"
    for name in ("pip", "pip3"):
        shim = job_python.venv / "bin" / name
        shim.write_text(SHIM.format(command=pip))
        shim.chmod(0o700)
    owner_only(job_python.venv)


def owner_only(root: Path) -> None:
    """venv copies its activate scripts with their installed modes (0644): the state dir's files are its user's
    alone (vertex_local/state.py), so the group and other bits go."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & 0o700)
