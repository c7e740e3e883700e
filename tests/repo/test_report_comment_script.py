"""report-comment.yml's github-script, run by Node.js against a recording stand-in for GitHub's API.

GitHub is out of reach here; the stand-in gives the script what actions/github-script would (github,
context, core, require) and records every call, so the script's own decisions are what is tested:
the PR number check, the head-commit check, create versus update, and the size limit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.report import MARKER

ROOT = Path(__file__).resolve().parents[2]
HEAD = "c0ffee" * 6 + "abcd"
HARNESS = """
const fs = require('fs');
const scenario = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const script = fs.readFileSync(process.argv[3], 'utf8');
const calls = [];
const record = (name, result) => async (args) => { calls.push([name, args]); return { data: result(args) }; };
const github = {
  rest: {
    pulls: { get: record('pulls.get', () => ({ head: { sha: scenario.pr_head_sha } })) },
    issues: {
      listComments: 'issues.listComments',
      createComment: record('issues.createComment', () => ({ html_url: 'https://example/new' })),
      updateComment: record('issues.updateComment', () => ({})),
    },
  },
  paginate: async (method, args) => { calls.push(['paginate ' + method, args]); return scenario.comments; },
};
const core = {
  setFailed: (m) => calls.push(['core.setFailed', m]),
  warning: (m) => calls.push(['core.warning', m]),
  info: () => {},
};
const context = { repo: { owner: 'me', repo: 'repo' } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', script)(github, context, core, require)
  .then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
"""


def comment_script() -> str:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "report-comment.yml").read_text())
    return workflow["jobs"]["comment"]["steps"][1]["with"]["script"]


def run_script(
    tmp_path: Path,
    pr_number: str,
    report: str,
    pr_head_sha: str = HEAD,
    comments: list[dict[str, Any]] | None = None,
) -> list[list[Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed to run report-comment.yml's script (GitHub's runners have it)")
    report_dir = tmp_path / "accuracy-report"
    report_dir.mkdir()
    (report_dir / "pr-number.txt").write_text(pr_number)
    (report_dir / "report.md").write_text(report)
    (tmp_path / "scenario.json").write_text(json.dumps({"pr_head_sha": pr_head_sha, "comments": comments or []}))
    (tmp_path / "script.js").write_text(comment_script())
    (tmp_path / "harness.js").write_text(HARNESS)
    env = {"REPORT_DIR": str(report_dir), "HEAD_SHA": HEAD, "PATH": "/usr/bin:/bin"}
    argv = [node, str(tmp_path / "harness.js"), str(tmp_path / "scenario.json"), str(tmp_path / "script.js")]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def names(calls: list[list[Any]]) -> list[str]:
    return [call[0] for call in calls]


def test_comment_script_creates_the_comment_on_the_pr_that_was_tested(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "17\n", f"{MARKER}\n## report\n")
    assert names(calls) == ["pulls.get", "paginate issues.listComments", "issues.createComment"]
    assert calls[0][1]["pull_number"] == 17
    assert calls[2][1] == {
        "owner": "me",
        "repo": "repo",
        "issue_number": 17,
        "body": f"{MARKER}\n## report\n",
    }


def test_comment_script_updates_its_own_comment_and_leaves_others_alone(tmp_path: Path) -> None:
    comments = [
        {"id": 1, "user": {"login": "someone"}, "body": f"{MARKER} copied by a person"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "an unrelated bot comment"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold report"},
    ]
    calls = run_script(tmp_path, "17", f"{MARKER}\nnew report", comments=comments)
    assert names(calls)[-1] == "issues.updateComment"
    assert calls[-1][1]["comment_id"] == 3 and calls[-1][1]["body"] == f"{MARKER}\nnew report"


@pytest.mark.parametrize("pr_number", ["17; rm -rf /", "-1", "0", "1e3", "", "12345678901"])
def test_comment_script_refuses_a_pr_number_that_is_not_a_plain_integer(tmp_path: Path, pr_number: str) -> None:
    calls = run_script(tmp_path, pr_number, MARKER)
    assert names(calls) == ["core.setFailed"]


def test_comment_script_posts_nothing_when_the_pr_has_moved_on(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "17", MARKER, pr_head_sha="f" * 40)
    assert names(calls) == ["pulls.get", "core.warning"]


def test_comment_script_adds_the_marker_and_cuts_a_report_too_long_for_a_comment(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "17", "x" * 100_000)
    body = calls[-1][1]["body"]
    assert body.startswith(MARKER) and len(body) <= 65_536 and body.endswith("run's artifacts._")
