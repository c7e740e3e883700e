"""The README is a front door and the manual lives in docs/: the README's `make` listing is `make help`, it stays
short, every link in it and in docs/ leads to a file that exists (and a heading that exists, where it names one),
and the manual names every module in scripts/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 300  # what it is, the picture, the two commands with their output, where things are, links
LINK = re.compile(r"\]\(([^)\s]+)\)")


def readme_make_listing() -> str:
    """The console block that starts with `$ make` under "Make targets"."""
    found = re.search(r"## Make targets\n\n```console\n\$ make\n(.*?)```", README, re.S)
    assert found, "README.md has no `$ make` console block under ## Make targets"
    return found.group(1)


def test_the_readmes_make_listing_is_what_make_help_prints() -> None:
    printed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert readme_make_listing() == printed.stdout


def test_the_readme_is_a_front_door_that_links_every_page_of_the_manual() -> None:
    assert len(README.splitlines()) <= MAX_README_LINES
    linked = {target.split("#")[0] for target in LINK.findall(README)}
    unlinked = sorted(page.relative_to(ROOT).as_posix() for page in PAGES[1:])
    assert [page for page in unlinked if page not in linked] == []


def anchors_of(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:: not checked offline
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors_of(linked)):
            broken.append(target)
    assert broken == [], f"{page.name} links to what does not exist"


def test_the_manual_names_every_module_in_scripts() -> None:
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    scripts = ROOT / "scripts"
    modules = {path.stem for path in scripts.rglob("*.py") if path.stem not in ("__init__", "__main__")}
    modules |= {path.name for path in scripts.iterdir() if (path / "__init__.py").is_file()}
    spellings = ("`{}`", "`{}.py`", "/{}/`")  # a module, its file, or a package's folder (`scripts/core/`)
    missing = sorted(name for name in modules if not any(form.format(name) in text for form in spellings))
    assert not missing, f"neither README.md nor docs/ names these scripts/ modules: {missing}"
