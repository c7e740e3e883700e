"""A stand-in for the GitHub CLI: an executable `gh` first on PATH, answering Release calls as GitHub would.

GitHub is out of reach here. The stand-in logs every call (one line of arguments), and answers:

- `release download --pattern NAME --dir D`: copies NAME from the latest Release's assets folder into D; with no
  Release, "release not found"; without that asset, gh's own "no assets match the file pattern"; or fails with
  the GitHub error set by fail() (a 502, say), as gh does when GitHub does;
- `release download TAG --dir D`: every asset of TAG's Release (the one existing_tag() names, whose assets are
  the same folder), or gh's "no assets to download" for a Release without any;
- `release view TAG`: whether TAG has a Release; `release create|upload|edit`: accepted (logged).

    gh = GhStandIn.install(tmp_path, monkeypatch)
    gh.publish("metrics.json", path)      # the latest Release now carries this asset
    gh.fail("HTTP 502: Bad Gateway ...")  # every download fails with GitHub's words
    gh.calls()                            # the argument lines, in order
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

SCRIPT = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GH_LOG"
case "$1 $2" in
  "release download")
    if [[ -n "$RELEASE_FAILURE" ]]; then echo "$RELEASE_FAILURE" >&2; exit 1; fi
    tag=""; [[ "$3" != --* ]] && tag=$3
    if [[ -n "$tag" && "$tag" != "$EXISTING_TAG" ]]; then echo "release not found" >&2; exit 1; fi
    while [[ $# -gt 0 ]]; do
      case "$1" in --dir) dir=$2 ;; --pattern) pattern=$2 ;; esac
      shift
    done
    if [[ -n "$tag" && -z "$pattern" ]]; then  # a tag and no pattern: every asset of that Release
      mkdir -p "$dir"
      if [[ -d "$RELEASE_ASSETS" ]] && compgen -G "$RELEASE_ASSETS/*" >/dev/null; then
        cp "$RELEASE_ASSETS"/* "$dir/"
      else
        echo "no assets to download" >&2; exit 1
      fi
      exit 0
    fi
    if [[ ! -d "$RELEASE_ASSETS" ]]; then echo "release not found" >&2; exit 1; fi
    [[ -f "$RELEASE_ASSETS/$pattern" ]] || { echo "no assets match the file pattern" >&2; exit 1; }
    mkdir -p "$dir" && cp "$RELEASE_ASSETS/$pattern" "$dir/$pattern" ;;
  "release view") [[ "$3" == "$EXISTING_TAG" ]] || { echo "release not found" >&2; exit 1; } ;;
  "release create" | "release upload" | "release edit") ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


@dataclasses.dataclass(frozen=True)
class GhStandIn:
    root: Path
    monkeypatch: pytest.MonkeyPatch

    @classmethod
    def install(cls, root: Path, monkeypatch: pytest.MonkeyPatch) -> GhStandIn:
        """gh first on PATH, with no Release and no failure; subprocesses inherit it through the environment."""
        bin_dir = root / "gh-bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "gh").write_text(SCRIPT)
        (bin_dir / "gh").chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        monkeypatch.setenv("GH_LOG", str(root / "gh.log"))
        monkeypatch.setenv("RELEASE_ASSETS", str(root / "release-assets"))
        monkeypatch.setenv("RELEASE_FAILURE", "")
        monkeypatch.setenv("EXISTING_TAG", "")
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        return cls(root, monkeypatch)

    def publish(self, name: str, source: Path) -> None:
        """The latest Release (created on first use) carries `source` as its asset `name`."""
        assets = self.root / "release-assets"
        assets.mkdir(exist_ok=True)
        shutil.copyfile(source, assets / name)

    def fail(self, github_error: str) -> None:
        self.monkeypatch.setenv("RELEASE_FAILURE", github_error)

    def existing_tag(self, tag: str) -> None:
        self.monkeypatch.setenv("EXISTING_TAG", tag)

    def calls(self) -> list[str]:
        log = self.root / "gh.log"
        return log.read_text().splitlines() if log.exists() else []
