"""scripts.release_card and report --production-from-release: the GitHub Release model card via `gh`.

GitHub is out of reach here, so `gh` is a recording stand-in on PATH: it logs each call, serves
$RELEASE_METRICS as the latest Release's metrics.json (or answers "release not found", or fails with
$RELEASE_FAILURE as GitHub's error), and says whether $EXISTING_TAG has a Release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts import gate, release_card, report
from tests.conftest import REPO_ROOT

FAKE_GH = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GH_LOG"
case "$1 $2" in
  "release download")
    if [[ -n "$RELEASE_FAILURE" ]]; then echo "$RELEASE_FAILURE" >&2; exit 1; fi
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
    monkeypatch.setenv("RELEASE_FAILURE", "")
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


BAD_GATEWAY = "HTTP 502: Bad Gateway (https://api.github.com/repos/me/repo/releases/latest)"


@pytest.mark.parametrize("failure", [BAD_GATEWAY, "error connecting to api.github.com", ""])
def test_a_failed_release_download_is_unavailable_not_absent(
    gh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if not failure:  # gh dies without a word
        (tmp_path / "bin" / "gh").write_text("#!/usr/bin/env bash\nexit 4\n")
    monkeypatch.setenv("RELEASE_FAILURE", failure)
    with pytest.raises(release_card.ReleaseUnavailable, match="gh release download failed"):
        release_card.download_latest_metrics(tmp_path / "dl", None)


def test_the_report_says_the_baseline_is_unavailable_when_the_download_fails(
    gh: Path, trained_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("RELEASE_FAILURE", BAD_GATEWAY)
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    markdown = output.read_text()
    assert f"_Production baseline unavailable (gh release download failed: {BAD_GATEWAY}): no deltas" in markdown
    assert "first run" not in markdown
    assert "::warning::report: production baseline unavailable" in capsys.readouterr().out


def test_a_latest_release_with_an_unusable_metrics_json_is_unavailable_too(
    gh: Path, trained_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1}')
    monkeypatch.setenv("RELEASE_METRICS", str(broken))
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    assert "_Production baseline unavailable (latest release metrics.json: missing key 'model')" in output.read_text()


# What the job's env: and the step's env: give the Report step on the runner.
JOB_ENV = {"GH_TOKEN": "read-only", "RUN_URL": "https://github.com/me/repo/actions/runs/42", "PR_NUMBER": "17",
           "JOB": "projects/p/locations/us-central1/customJobs/1"}  # fmt: skip


def report_step_command() -> str:
    """The Report step of pr.yml's Accuracy gate job, as the runner runs it."""
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "pr.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["pipeline"]["steps"] if s.get("name") == "Report"]
    return step["run"]


@pytest.mark.parametrize("min_accuracy", ["0.5", "0.999"])  # the gate passes, then rejects
def test_the_accuracy_gate_job_fails_exactly_when_the_gate_rejects_even_if_github_fails(
    gh: Path, pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, monkeypatch, capsys,
    min_accuracy: str,
) -> None:  # fmt: skip
    """The job's Gate and Report steps as pr.yml runs them, with `gh release download` answering 502."""
    monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", min_accuracy)
    job = tmp_path / "job"  # the job's working directory: out/ beside the venv, as on the runner
    (job / "out" / "model").mkdir(parents=True)
    (job / ".venv").symlink_to(REPO_ROOT / ".venv")
    model_dir = pipeline_env.stage_model(trained_model_dir, unique_name)
    gate_status = gate.main(["--model-dir", model_dir, "--out-dir", str(job / "out")])
    capsys.readouterr()
    passed = json.loads((job / "out" / "gate.json").read_text())["passed"]
    assert gate_status == (0 if passed else 1) and passed == (min_accuracy == "0.5")
    shutil.copy(trained_model_dir / "metrics.json", job / "out" / "model" / "metrics.json")  # Fetch the model
    env = {**os.environ, **JOB_ENV, "PYTHONPATH": str(REPO_ROOT), "RELEASE_FAILURE": BAD_GATEWAY}
    command = ["bash", "-c", report_step_command()]
    result = subprocess.run(command, cwd=job, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    job_failed = gate_status != 0 or result.returncode != 0
    assert job_failed == (not passed)
    markdown = (job / "out" / "report" / "report.md").read_text()
    assert ("✅ **Gate passed**" if passed else "❌ **Gate failed**") in markdown
    assert "Production baseline unavailable (gh release download failed: HTTP 502" in markdown
    assert (job / "out" / "report" / "pr-number.txt").read_text() == "17\n"
