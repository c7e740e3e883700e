"""The GitHub Release's model card (metrics.json + report.md), through the `gh` CLI.

    python -m scripts.release_card publish --tag v0.1.0 --metrics out/model/metrics.json \
        --report out/report.md

`publish` creates the Release for a tag, or updates its notes and assets (--clobber) when it already
exists. `python -m scripts.report --production-from-release` reads the latest card back through
download_latest_metrics, which gives pull requests production numbers without cloud access.
gh reads its token from GH_TOKEN.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

CARD_ASSET = "metrics.json"


class ReleaseError(RuntimeError):
    """gh is missing or GitHub refused a Release operation."""


class ReleaseUnavailable(ReleaseError):
    """GitHub could not say what the latest Release holds (an outage, a 5xx, a timeout): not "there is none"."""


def run_gh(args: list[str], repo: str | None) -> subprocess.CompletedProcess[str]:
    """One gh call, its output captured; a missing gh is a clear error rather than a traceback."""
    gh = shutil.which("gh")
    if gh is None:
        raise ReleaseError("the GitHub CLI `gh` is not installed (it is on GitHub's runners)")
    command = [gh, *args, *(["--repo", repo] if repo else [])]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _not_found(result: subprocess.CompletedProcess[str]) -> bool:
    text = (result.stderr + result.stdout).lower()
    return "not found" in text or "no assets" in text or "no release" in text


def download_latest_metrics(dest: Path, repo: str | None) -> Path | None:
    """The latest Release's metrics.json in `dest`, or None when there is no Release or no such asset.

    Any other failure raises ReleaseUnavailable, so a caller can tell "no baseline yet" from "GitHub failed".
    """
    dest.mkdir(parents=True, exist_ok=True)
    result = run_gh(["release", "download", "--pattern", CARD_ASSET, "--dir", str(dest), "--clobber"], repo)
    if result.returncode != 0:
        if _not_found(result):
            return None
        reason = " ".join((result.stderr or result.stdout).split())[:300] or f"exit status {result.returncode}"
        raise ReleaseUnavailable(f"gh release download failed: {reason}")
    found = dest / CARD_ASSET
    return found if found.exists() else None


def publish(tag: str, assets: list[Path], notes: Path, repo: str | None) -> str:
    """Create the Release for `tag` with the card, or refresh an existing one's notes and assets."""
    for path in [*assets, notes]:
        if not path.is_file():
            raise ReleaseError(f"{path}: no such file")
    exists = run_gh(["release", "view", tag, "--json", "tagName"], repo).returncode == 0
    files = [str(path) for path in assets]
    if exists:
        steps = [
            ["release", "upload", tag, *files, "--clobber"],
            ["release", "edit", tag, "--notes-file", str(notes)],
        ]
    else:
        steps = [["release", "create", tag, *files, "--verify-tag", "--title", tag, "--notes-file", str(notes)]]
    for step in steps:
        result = run_gh(step, repo)
        if result.returncode != 0:
            raise ReleaseError(f"gh {' '.join(step[:2])} failed: {result.stderr.strip()}")
    return "updated" if exists else "created"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.release_card", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="owner/name (default: gh's, from GH_REPO or the git remote)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("publish", help="create or update the Release for a tag")
    release.add_argument("--tag", required=True)
    release.add_argument("--metrics", type=Path, required=True, help="attached as metrics.json")
    release.add_argument("--report", type=Path, required=True, help="the Release notes, also attached")
    release.add_argument("--plots", type=Path, nargs="*", default=[], help="PNG charts to attach")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.metrics.name != CARD_ASSET:
            raise ReleaseError(f"--metrics must be a file named {CARD_ASSET}, got {args.metrics.name}")
        done = publish(args.tag, [args.metrics, args.report, *args.plots], args.report, args.repo)
        print(f"release_card: {done} Release {args.tag}")
    except ReleaseError as exc:
        print(f"release_card: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
