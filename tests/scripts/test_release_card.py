"""scripts.release_card and report --production-from-release: the GitHub Release model card via `gh`.

GitHub is out of reach here, so `gh` is a recording stand-in on PATH: it logs each call, serves
$RELEASE_METRICS as the latest Release's metrics.json (or answers "release not found"), and says
whether $EXISTING_TAG has a Release.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scripts import release_card, report

FAKE_GH = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GH_LOG"
case "$1 $2" in
  "release download")
    if [[ -z "$RELEASE_METRICS" ]]; then echo "release not found" >&2; exit 1; fi
    while [[ $# -gt 0 ]]; do [[ "$1" == --dir ]] && dir=$2; shift; done
    cp "$RELEASE_METRICS" "$dir/metrics.json" ;;
  "release view") [[ "$3" == "$EXISTING_TAG" ]] || { echo "release not found" >&2; exit 1; } ;;
  "release create" | "release upload" | "release edit") ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-in gh first on PATH; returns its call log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("GH_LOG", str(tmp_path / "gh.log"))
    monkeypatch.setenv("RELEASE_METRICS", "")
    monkeypatch.setenv("EXISTING_TAG", "")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path / "gh.log"


def card(tmp_path: Path) -> tuple[Path, Path]:
    metrics, notes = tmp_path / "card" / "metrics.json", tmp_path / "card" / "report.md"
    metrics.parent.mkdir(exist_ok=True)
    metrics.write_text("{}")
    notes.write_text(f"{report.MARKER}\n")
    return metrics, notes


def test_publish_creates_the_release_for_a_new_tag_with_the_card_attached(gh: Path, tmp_path: Path) -> None:
    metrics, notes = card(tmp_path)
    args = ["publish", "--tag", "v0.1.0", "--metrics", str(metrics), "--report", str(notes)]
    assert release_card.main(args) == 0
    create = gh.read_text().splitlines()[-1]
    assert create.startswith(f"release create v0.1.0 {metrics} {notes} --verify-tag")
    assert f"--notes-file {notes}" in create


def test_publish_updates_an_existing_release_replacing_its_assets(gh: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EXISTING_TAG", "v0.1.0")
    metrics, notes = card(tmp_path)
    assert release_card.main(["publish", "--tag", "v0.1.0", "--metrics", str(metrics), "--report", str(notes)]) == 0
    calls = gh.read_text().splitlines()
    assert calls[1] == f"release upload v0.1.0 {metrics} {notes} --clobber"
    assert calls[2] == f"release edit v0.1.0 --notes-file {notes}"
    assert not any(call.startswith("release create") for call in calls)


def test_publish_refuses_a_metrics_file_under_another_name(gh: Path, tmp_path: Path, capsys) -> None:
    _, notes = card(tmp_path)
    assert release_card.main(["publish", "--tag", "v1", "--metrics", str(notes), "--report", str(notes)]) == 1
    assert "must be a file named metrics.json" in capsys.readouterr().err
    assert not gh.exists()


def test_latest_release_metrics_become_the_reports_production(
    gh: Path, trained_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RELEASE_METRICS", str(trained_model_dir / "metrics.json"))
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    markdown = output.read_text()
    production = json.loads((trained_model_dir / "metrics.json").read_text())
    assert "| accuracy |" in markdown and "+0.00 pp" in markdown
    assert f"`{production['data_fingerprint']}` | `{production['data_fingerprint']}`" in markdown


def test_no_release_yet_means_the_first_run(gh: Path, trained_model_dir: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    assert "No production model yet (first run)" in output.read_text()
    assert "no GitHub Release with a metrics.json yet" in capsys.readouterr().out


def test_without_gh_the_report_fails_with_one_clear_line(
    trained_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nowhere to find gh
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(tmp_path / "r.md")]) == 2
    assert capsys.readouterr().err.startswith("report: the GitHub CLI `gh` is not installed")
