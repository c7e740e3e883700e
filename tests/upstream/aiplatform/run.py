"""google-cloud-aiplatform's own system tests against a fresh vertex-local: make test-upstream-aiplatform

Downloads the sdist of the installed SDK version into .upstream/ (once), copies its tests/system/aiplatform files
for model versions, model upload, custom jobs and model interactions into a fresh run folder with plugin.py as
their conftest.py, starts a vertex-local with a state folder of its own, runs them with pytest and prints the
counts and the reason for every test vertex-local does not pass (expectations.py). Upstream code is not
committed: it is read from the sdist each time.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from tests.support.vertex_local_server import REPO_ROOT, start_vertex_local
from tests.upstream.aiplatform import expectations

PACKAGE = "google-cloud-aiplatform"
CACHE = REPO_ROOT / ".upstream"
HERE = Path(__file__).resolve().parent
SUITE = "tests/system/aiplatform"
FILES = ("test_model_version_management.py", "test_model_upload.py", "test_custom_job.py", "test_model_interactions.py")
KEEP = (f"{SUITE}/{name}" for name in (*FILES, "__init__.py", "e2e_base.py", "test_resources/"))
PYTEST_INI = "[pytest]\nfilterwarnings =\n    ignore::DeprecationWarning\n"


def sdist(version: str) -> Path:
    """The SDK's sdist from PyPI, downloaded once into .upstream/."""
    found = sorted(CACHE.glob(f"google_cloud_aiplatform-{version}.tar.gz"))
    if found:
        return found[0]
    CACHE.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", f"{PACKAGE}=={version}"]
    subprocess.run([*command, "--dest", str(CACHE), "--quiet"], check=True)
    return next(CACHE.glob(f"google_cloud_aiplatform-{version}.tar.gz"))


def fresh_run_folder(archive: Path) -> Path:
    """The upstream suite's files, with plugin.py as its conftest.py and expectations.py beside it."""
    run = CACHE / "run"
    shutil.rmtree(run, ignore_errors=True)
    keep = (*KEEP, "tests/__init__.py", "tests/system/__init__.py")
    with tarfile.open(archive) as tar:
        root = tar.getnames()[0].split("/", 1)[0]
        wanted = [m for m in tar.getmembers() if m.name.removeprefix(root + "/").startswith(keep)]
        tar.extractall(run, members=wanted, filter="data")
    shutil.move(run / root / "tests", run / "tests")
    (run / root).rmdir()
    shutil.copy(HERE / "plugin.py", run / SUITE / "conftest.py")
    shutil.copy(HERE / "expectations.py", run / SUITE / "vertex_local_expectations.py")
    (run / "pytest.ini").write_text(PYTEST_INI)
    return run


def outcomes(report: Path) -> dict[str, str]:
    """test name -> passed / failed / error / expected failure / unexpected pass, from pytest's JUnit XML."""
    found = {}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag: child for child in case}
        skipped = kinds.get("skipped")
        if skipped is not None:
            found[name] = "expected failure" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            found[name] = "failed" if "failure" in kinds else "error" if "error" in kinds else "passed"
    return found


def main() -> int:
    version = importlib.metadata.version(PACKAGE)
    run = fresh_run_folder(sdist(version))
    server = start_vertex_local(run / "vertex-local" / "state")
    env = {**os.environ, "VERTEX_LOCAL_URL": server.url, "STORAGE_EMULATOR_HOST": server.url,
           "BUILD_SPECIFIC_GCLOUD_PROJECT": server.project, "PYTHONPATH": str(run)}  # fmt: skip
    command = [sys.executable, "-m", "pytest", *(f"{SUITE}/{name}" for name in FILES), "-p", "no:cacheprovider",
               "-q", "-rfE", "--junitxml", str(run / "report.xml")]  # fmt: skip
    try:
        status = subprocess.run(command, cwd=run, env=env, check=False).returncode
    finally:
        server.stop()
    results = outcomes(run / "report.xml")
    print(f"\n{PACKAGE} {version} system tests ({', '.join(FILES)}) against vertex-local:")
    for name, outcome in sorted(results.items()):
        print(f"  {outcome:<16} {name}")
    for node, reason in {**expectations.DESELECTED, **expectations.EXPECTED_FAILURES}.items():
        print(f"  {'deselected' if node in expectations.DESELECTED else 'expected to fail':<16} {node}: {reason}")
    counts = {kind: list(results.values()).count(kind) for kind in ("passed", "failed", "error", "expected failure")}
    total = len(results) + len(expectations.DESELECTED)
    print(
        f"{counts['passed']} of {total} passed; {counts['expected failure']} expected failures, "
        f"{len(expectations.DESELECTED)} deselected, {counts['failed']} failed, {counts['error']} errors"
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
