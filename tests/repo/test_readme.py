"""The README says what the repository has: its `make` listing is `make help`, and it names every module in scripts/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_make_listing() -> str:
    """The console block that starts with `$ make` under "Make targets"."""
    found = re.search(r"## Make targets\n\n```console\n\$ make\n(.*?)```", README, re.S)
    assert found, "README.md has no `$ make` console block under ## Make targets"
    return found.group(1)


def test_the_readmes_make_listing_is_what_make_help_prints() -> None:
    printed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert readme_make_listing() == printed.stdout


def test_the_readme_names_every_module_in_scripts() -> None:
    modules = {path.stem for path in (ROOT / "scripts").glob("*.py") if path.stem != "__init__"}
    modules |= {path.name for path in (ROOT / "scripts").iterdir() if path.is_dir() and path.name != "__pycache__"}
    missing = sorted(name for name in modules if f"`{name}`" not in README and f"`{name}.py`" not in README)
    assert not missing, f"README.md does not name scripts/ modules: {missing}"
