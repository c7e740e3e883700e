"""The GitHub Release's model card and production's model, through the `gh` CLI.

    python -m scripts.release_card publish --tag v0.1.0 --metrics out/card/metrics.json \
        --model out/card/model.tar.gz --report out/card/report.md --plots-dir out/card

`publish` creates the Release for a tag. A Release that already exists is never published over: when it holds
exactly these assets (a re-run for the same tag) nothing changes; when it holds none (made by hand) it gets
them; when its assets differ (a re-used or moved tag that redeployed another model) publish fails, exit 1.
The assets: metrics.json, model.tar.gz (the deployed version's SavedModel and metrics.json, packed by
`scripts.fetch_model --archive`), report.md and every PNG chart in --plots-dir. Pull requests read them back
without cloud access: `scripts.seed_production` registers model.tar.gz on the runner's vertex-local as
production, and `python -m scripts.report --production-from-release` reads metrics.json (download_latest_metrics).
Standard library only: release.yml's write-token job runs it on the runner's own Python.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scripts.core.step_runner import Environ, StepResult, run_main, say
from scripts.github.releases import RELEASE_ERRORS, ReleaseError, ReleaseUnavailable, download_latest_asset, run_gh

CARD_ASSET = "metrics.json"
# github.model_archive.ARCHIVE_NAME; this module stays free of it (stdlib, no venv)
MODEL_ASSET = "model.tar.gz"
STEP = "release_card"
__all__ = ["ReleaseError", "ReleaseUnavailable", "download_latest_metrics", "publish"]


def download_latest_metrics(dest: Path, repo: str | None) -> Path | None:
    """The latest Release's metrics.json in `dest`, or None when there is no Release or no such asset.

    Any other failure raises ReleaseUnavailable, so a caller can tell "no baseline yet" from "GitHub failed".
    """
    return download_latest_asset(CARD_ASSET, dest, repo)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def published_assets(tag: str, repo: str | None) -> dict[str, str]:
    """{name: sha256} of every asset the tag's Release holds now ({} for none); unreadable is a ReleaseError."""
    with tempfile.TemporaryDirectory(prefix="release-card-") as folder:
        result = run_gh(["release", "download", tag, "--dir", folder], repo)
        if result.returncode != 0:
            if "no assets" in (result.stderr + result.stdout).lower():  # gh's words for a Release without any
                return {}
            reason = " ".join((result.stderr or result.stdout).split())[:300]
            raise ReleaseError(f"cannot read Release {tag}'s assets to compare them: {reason}")
        return {path.name: sha256_of(path) for path in Path(folder).iterdir() if path.is_file()}


def differing(published: dict[str, str], assets: list[Path]) -> list[str]:
    """The asset names whose bytes differ, or that only one side has."""
    new = {path.name: sha256_of(path) for path in assets}
    return sorted(name for name in published.keys() | new.keys() if published.get(name) != new.get(name))


def publish(tag: str, assets: list[Path], notes: Path, repo: str | None) -> str:
    """Create the Release for `tag` with the card; an existing one only when it holds nothing or the same."""
    for path in [*assets, notes]:
        if not path.is_file():
            raise ReleaseError(f"{path}: no such file")
    exists = run_gh(["release", "view", tag, "--json", "tagName"], repo).returncode == 0
    files = [str(path) for path in assets]
    if exists:
        published = published_assets(tag, repo)
        if published and (changed := differing(published, assets)):
            raise ReleaseError(
                f"Release {tag} already exists with other assets ({', '.join(changed)} differ): a re-used or moved "
                "tag does not replace a published model; tag a new version, or delete that Release first"
            )
        if published:
            return "unchanged"
        # No --clobber: nothing is there to replace, and an asset uploaded meanwhile is not overwritten.
        steps = [["release", "upload", tag, *files], ["release", "edit", tag, "--notes-file", str(notes)]]
    else:
        steps = [["release", "create", tag, *files, "--verify-tag", "--title", tag, "--notes-file", str(notes)]]
    for step in steps:
        result = run_gh(step, repo)
        if result.returncode != 0:
            raise ReleaseError(f"gh {' '.join(step[:2])} failed: {result.stderr.strip()}")
    return "completed" if exists else "created"


def plots_in(folder: Path) -> list[Path]:
    """The PNG charts directly in `folder` (the report's: training curve, per class, regressed digits)."""
    if not folder.is_dir():
        raise ReleaseError(f"{folder}: no such folder")
    return sorted(path for path in folder.glob("*.png") if path.is_file() and not path.is_symlink())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.release_card", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="owner/name (default: gh's, from GH_REPO or the git remote)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("publish", help="create or update the Release for a tag")
    release.add_argument("--tag", required=True)
    release.add_argument("--metrics", type=Path, required=True, help=f"attached as {CARD_ASSET}")
    release.add_argument("--model", type=Path, required=True, help=f"production's model, attached as {MODEL_ASSET}")
    release.add_argument("--report", type=Path, required=True, help="the Release notes, also attached")
    release.add_argument("--plots-dir", type=Path, help="attach every PNG chart in this folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv, known=RELEASE_ERRORS)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    """Publish the card; ReleaseError (exit 1) when an asset is misnamed, gh fails or the Release holds others."""
    for flag, path, name in (("--metrics", args.metrics, CARD_ASSET), ("--model", args.model, MODEL_ASSET)):
        if path.name != name:  # the names pull requests download by
            raise ReleaseError(f"{flag} must be a file named {name}, got {path.name}")
    assets = [args.metrics, args.model, args.report, *(plots_in(args.plots_dir) if args.plots_dir else [])]
    done = publish(args.tag, assets, args.report, args.repo)
    if done == "unchanged":
        say(STEP, f"Release {args.tag} already has these assets; nothing changed")
    else:
        say(STEP, f"{done} Release {args.tag}: {', '.join(path.name for path in assets)}")
    return StepResult()


if __name__ == "__main__":
    raise SystemExit(main())
