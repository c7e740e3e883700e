"""make test's xdist work units (tests/support/scheduling.py): a module per unit, SERVER_RUNS modules together, the
console's package whole."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.support.scheduling import (
    LONG_UNITS,
    SERVER_RUNS,
    SERVER_RUNS_SCOPE,
    module_scope,
    next_unit,
    wants_another_unit,
)
from tests.support.vertex_local_server import REPO_ROOT


def test_modules_using_the_session_servers_runs_share_one_unit_and_the_rest_are_their_own() -> None:
    assert module_scope("tests/scripts/test_deploy.py", REPO_ROOT) == SERVER_RUNS_SCOPE
    assert module_scope("tests/scripts/report/test_same_digits.py", REPO_ROOT) == SERVER_RUNS_SCOPE
    assert module_scope("tests/test_tiers.py", REPO_ROOT) == "tests/test_tiers.py"
    assert module_scope("tests/no_such_module.py", REPO_ROOT) == "tests/no_such_module.py"


def test_each_server_run_named_is_a_fixture_of_the_scripts_tests() -> None:
    conftest = (REPO_ROOT / "tests/scripts/conftest.py").read_text()
    assert {name for name in SERVER_RUNS if re.search(rf"^def {name}\(", conftest, re.MULTILINE)} == SERVER_RUNS


def test_the_console_packages_modules_share_one_unit_so_its_server_and_rollout_are_built_once() -> None:
    modules = sorted((REPO_ROOT / "tests/vertex_local/console").glob("test_*.py"))
    assert len(modules) > 1
    units = {module_scope(str(module.relative_to(REPO_ROOT)), REPO_ROOT) for module in modules}
    assert units == {"tests/vertex_local/console/"}
    assert module_scope("tests/vertex_local/test_app.py", REPO_ROOT) == "tests/vertex_local/test_app.py"


def test_make_tests_workers_each_run_whole_modules(tmp_path: Path) -> None:
    """The Makefile's flags on two workers: every module's tests are reported by one worker only."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    flags = re.search(r"-n \$\(TEST_WORKERS\) (--dist [^)]*)\)", makefile)
    assert flags is not None, "the Makefile's WORKERS line changed"
    modules = ["tests/test_tiers.py", "tests/repo/test_readme.py"]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", *flags.group(1).split(), "-v",
               "--basetemp", str(tmp_path / "run"), *modules]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    workers = defaultdict(set)
    for worker, module in re.findall(r"^\[(gw\d)\] .*? (tests/\S+?\.py)::", done.stdout, re.MULTILINE):
        workers[module].add(worker)
    assert set(workers) == set(modules), done.stdout[-3000:]
    assert all(len(seen) == 1 for seen in workers.values()), dict(workers)


def test_the_long_units_are_unit_tier_modules_of_their_own_handed_out_first() -> None:
    assert len(set(LONG_UNITS)) == len(LONG_UNITS)
    assert all((REPO_ROOT / unit).is_file() and module_scope(unit, REPO_ROOT) == unit for unit in LONG_UNITS)
    queued = ["tests/repo/test_readme.py", LONG_UNITS[2], "tests/test_tiers.py", LONG_UNITS[1]]
    assert next_unit(queued) == LONG_UNITS[1]
    assert next_unit(["tests/repo/test_readme.py", "tests/test_tiers.py"]) == "tests/repo/test_readme.py"


def test_a_worker_gets_another_unit_only_once_it_is_blocked_on_its_last_test() -> None:
    """Not while it still runs its second-last: the unit would wait out two tests, maybe with the other worker idle."""
    assert wants_another_unit(0) and wants_another_unit(1)
    assert not wants_another_unit(2)
