"""googleapis/python-storage's own system tests, verbatim, against a fresh vertex-local (`make test-upstream-storage`).

    python -m tests.upstream.storage.run [pytest arguments, e.g. -k copy or -x]

Downloads the sdist of the google-cloud-storage version requirements.txt pins (its tests/system) from PyPI into
.upstream/storage/ (ignored by git), installs the suite's own test dependencies there (never into .venv), writes the
data files the sdist leaves out, starts vertex-local on a free port with an empty state dir and runs the suite with
storage_overlay.py beside it: the families deselected, one reason each. Exits with pytest's code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tests.support.vertex_local_server import REPO_ROOT, VertexLocal, free_port
from tests.upstream.storage.credentials import start_token_stub, write_service_account_key
from tests.upstream.storage.data import write_data_files

CACHE = REPO_ROOT / ".upstream" / "storage"
OVERLAY = Path(__file__).resolve().parent
PROJECT = "upstream-project"


def pinned_version(package: str, requirements: Path = REPO_ROOT / "requirements.txt") -> str:
    """The version requirements.txt pins (following its `-r` includes, as pip does), so the suite always matches
    the client the project runs."""
    version = find_pin(package, requirements, set())
    if version is None:
        raise SystemExit(f"{requirements.name} pins no {package} (nor any file it includes with -r)")
    return version


def find_pin(package: str, requirements: Path, seen: set[Path]) -> str | None:
    if requirements in seen:  # an include cycle: pip refuses it too, but reading must still end
        return None
    seen.add(requirements)
    for line in requirements.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        include = re.fullmatch(r"(?:-r|--requirement)[ =]?(\S+)", line)
        if include:  # relative to the including file, as pip reads it
            found = find_pin(package, requirements.parent / include.group(1), seen)
        else:
            match = re.fullmatch(rf"{re.escape(package)}\s*==\s*([\w.]+)", line, re.I)
            found = match.group(1) if match else None
        if found:
            return found
    return None


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def fetch_suite(version: str) -> Path:
    """The unpacked sdist's root (holding tests/system), downloaded once."""
    root = CACHE / f"google_cloud_storage-{version}"
    if (root / "tests" / "system" / "conftest.py").is_file():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    pip("download", "--no-binary", ":all:", "--no-deps", f"google-cloud-storage=={version}", "-d", str(CACHE))
    with tarfile.open(CACHE / f"google_cloud_storage-{version}.tar.gz") as sdist:
        tests = [m for m in sdist.getmembers() if m.name.startswith(f"{root.name}/tests/")]
        sdist.extractall(CACHE, members=tests, filter="data")
    return root


def install_test_dependencies() -> Path:
    """The suite imports test_utils and google.cloud.kms at the top of its conftest: install them beside it."""
    site, requirements = CACHE / "site", OVERLAY / "requirements.txt"
    marker = site / ".requirements"
    if not marker.is_file() or marker.read_text() != requirements.read_text():
        pip("install", "--no-deps", "--upgrade", "--target", str(site), "-r", str(requirements))
        marker.write_text(requirements.read_text())
    return site


def run_suite(root: Path, site: Path, url: str, key: Path, pytest_args: list[str]) -> int:
    env = {
        **{k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"},  # it would make the client anonymous
        "PYTHONPATH": os.pathsep.join([str(site), str(OVERLAY)]),  # not the repo root: both have a `tests` package
        "API_ENDPOINT_OVERRIDE": url,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "GOOGLE_CLOUD_TESTS_USER_PROJECT": PROJECT,  # userProject bills a project: accepted, nothing is billed
    }
    paths = [] if any(arg.startswith("tests/system") for arg in pytest_args) else ["tests/system"]
    command = [sys.executable, "-m", "pytest", *paths, "-c", str(OVERLAY / "pytest.ini")]
    command += ["--rootdir", str(root), "-p", "storage_overlay", "-p", "no:cacheprovider", *pytest_args]
    return subprocess.run(command, cwd=root, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    version = pinned_version("google-cloud-storage")
    root = fetch_suite(version)
    site = install_test_dependencies()
    write_data_files(root)
    with tempfile.TemporaryDirectory(prefix="upstream-storage-") as scratch:
        state = Path(scratch) / "state"
        state.mkdir()
        server = VertexLocal(port=free_port(), state_dir=state, log_path=Path(scratch) / "server.log")
        token_stub, token_uri = start_token_stub()
        key = write_service_account_key(Path(scratch) / "service-account.json", PROJECT, token_uri)
        server.start()
        print(f"upstream-storage: google-cloud-storage {version}'s tests/system against vertex-local at {server.url}")
        try:
            code = run_suite(root, site, server.url, key, sys.argv[1:] if argv is None else argv)
        finally:
            server.stop()
            token_stub.shutdown()
        errors = [line for line in server.log_path.read_text().splitlines() if "Traceback" in line]
        print(f"upstream-storage: server log had {len(errors)} traceback(s)")
        if errors:
            print(server.log_tail(80))
    return code


if __name__ == "__main__":
    sys.exit(main())
