"""scripts.pr_comment end to end against a stand-in for GitHub's API (tests/support/github_rest.py).

The step finds the PR from the run's head, downloads the artifact's zip through the API's redirect (the token
must not follow it to storage), reads it with scripts.github.report_artifact and creates, updates or marks stale the
one comment. The artifacts are real zips, including the ones a fork could forge.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator

import pytest

from scripts import pr_comment
from scripts.github import comment_text
from scripts.github.comment_text import MARKER, RUN_OUTPUT, STALE
from scripts.github.report_artifact import MAX_ARTIFACT_BYTES
from tests.support.corrupt_zips import CORRUPTIONS
from tests.support.github_rest import TOKEN, GitHubStandIn

HEAD = "c0ffee" * 6 + "abcd"
RUN_ID = 4242
RUN_URL = f"https://github.com/me/repo/actions/runs/{RUN_ID}"
ARGS = ["--run-id", str(RUN_ID), "--run-url", RUN_URL, "--conclusion", "success", "--head-sha", HEAD,
        "--head-repo", "fork-owner/repo", "--head-branch", "feature/x"]  # fmt: skip
REPORT = f"{MARKER}\n## MNIST accuracy report\n✅ **Gate passed**: thanks @octocat\n"
RUN_INFO = comment_text.RunInfo(4100, "https://github.com/me/repo/actions/runs/4100", "success", "a" * 40)  # earlier


def pull(number: int, sha: str = HEAD, repo: str = "fork-owner/repo") -> dict:
    return {"number": number, "head": {"sha": sha, "repo": {"full_name": repo}}}


def archive(pr_number: str = "17", report: str = REPORT, extra: dict[str, int] | None = None) -> bytes:
    """A zip as upload-artifact builds it (deflated regular files, mode 644); `extra` adds entries with those modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data, mode in [("report.md", report, 0o644), ("pr-number.txt", pr_number, 0o644)] + [
            (name, "x", mode) for name, mode in (extra or {}).items()
        ]:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFMT(mode) or stat.S_IFREG) << 16 | stat.S_IMODE(mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, data)
    return buffer.getvalue()


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        stand_in.answer("GET", "/repos/me/repo/pulls", [pull(17)])
        stand_in.answer("GET", "/repos/me/repo/issues/17/comments", [])
        stand_in.answer("POST", "/repos/me/repo/issues/17/comments", {"id": 99}, status=201)
        yield stand_in


def with_artifact(github: GitHubStandIn, data: bytes) -> None:
    github.answer("GET", f"/repos/me/repo/actions/runs/{RUN_ID}/artifacts", {"artifacts": [
        {"id": 5, "name": "accuracy-report", "expired": False}]})  # fmt: skip
    github.answer("GET", "/repos/me/repo/actions/artifacts/5/zip", redirect="/storage/artifact.zip")
    github.answer("GET", "/storage/artifact.zip", raw=data)


def run(github: GitHubStandIn, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    status = pr_comment.main([*ARGS, *extra], github.environ())
    out, err = capsys.readouterr()
    return status, out, err


def test_the_report_is_posted_on_the_pr_whose_head_the_run_tested(github, capsys) -> None:
    with_artifact(github, archive())
    status, out, _ = run(github, capsys)
    assert status == 0 and "created the comment on PR #17" in out
    (created,) = github.writes()
    assert (created.method, created.path) == ("POST", "/repos/me/repo/issues/17/comments")
    body = created.body["body"]
    assert body.startswith(f"{MARKER}\n✅ [Pull request run {RUN_ID}]({RUN_URL}) on `c0ffeec` concluded **success**.")
    assert body.split(RUN_OUTPUT)[1].lstrip("\n").startswith("## MNIST accuracy report")
    assert "@\u200boctocat" in body and "@octocat" not in body


def test_the_pr_is_looked_up_by_the_runs_head_and_every_call_carries_the_token(github, capsys) -> None:
    with_artifact(github, archive())
    run(github, capsys)
    lookup = next(call for call in github.calls if call.path == "/repos/me/repo/pulls")
    assert lookup.query["head"] == "fork-owner:feature/x" and lookup.query["state"] == "open"
    api_calls = [call for call in github.calls if not call.path.startswith("/storage/")]
    assert all(call.headers["authorization"] == f"Bearer {TOKEN}" for call in api_calls)


def test_the_token_is_not_sent_to_the_storage_host_the_artifact_redirects_to(github, capsys) -> None:
    with_artifact(github, archive())
    run(github, capsys)
    (storage,) = [call for call in github.calls if call.path == "/storage/artifact.zip"]
    assert "authorization" not in storage.headers


def test_the_comment_is_updated_in_place_and_others_are_left_alone(github, capsys) -> None:
    with_artifact(github, archive())
    github.answer("GET", "/repos/me/repo/issues/17/comments", [
        {"id": 1, "user": {"login": "someone"}, "body": f"{MARKER} copied by a person"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "an unrelated bot comment"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold report"},
    ])  # fmt: skip
    github.answer("PATCH", "/repos/me/repo/issues/comments/3", {"id": 3})
    status, out, _ = run(github, capsys)
    assert status == 0 and "updated the comment on PR #17" in out
    (updated,) = github.writes()
    assert updated.path == "/repos/me/repo/issues/comments/3" and "## MNIST accuracy report" in updated.body["body"]


def test_an_artifact_naming_another_pr_is_refused_and_nothing_is_posted_there(github, capsys) -> None:
    with_artifact(github, archive(pr_number="18"))
    status, _, err = run(github, capsys)
    assert status == 1 and "names PR #18, but run 4242 tested #17" in err
    assert not [call for call in github.writes() if "/18/" in call.path]


def test_nothing_is_posted_when_the_pr_has_moved_on_to_another_commit(github, capsys) -> None:
    with_artifact(github, archive())
    github.answer("GET", "/repos/me/repo/pulls", [pull(17, sha="f" * 40), pull(18, repo="someone-else/repo")])
    status, out, _ = run(github, capsys)
    assert status == 0 and "no open pull request is at c0ffeec0ffee any more" in out
    assert github.writes() == []


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"x/../../_actions/actions/github-script/dist/index.js": 0o644}, "unexpected entry"),
        ({"evil.sh": 0o755}, "unexpected entry"),
        ({"report.md.lnk": stat.S_IFLNK | 0o777}, "unexpected entry"),
    ],
)
def test_a_forged_artifact_is_refused_and_the_earlier_comment_marked_stale(github, capsys, extra, reason) -> None:
    with_artifact(github, archive(extra=extra))
    earlier = {"id": 3, "user": {"login": "github-actions[bot]"}, "body": comment_text.body("old report", RUN_INFO)}
    github.answer("GET", "/repos/me/repo/issues/17/comments", [earlier])
    github.answer("PATCH", "/repos/me/repo/issues/comments/3", {"id": 3})
    status, _, err = run(github, capsys)
    assert status == 1 and "accuracy-report artifact of run 4242 was refused" in err and reason in err
    (marked,) = github.writes()
    assert marked.body["body"].startswith(f"{MARKER}\n{STALE} [Pull request run {RUN_ID}]")
    assert "uploaded a report that was refused" in marked.body["body"]
    assert marked.body["body"].endswith("old report")


@pytest.mark.parametrize("raised", sorted(CORRUPTIONS))
def test_a_damaged_zip_is_refused_and_the_earlier_comment_marked_stale(github, capsys, raised) -> None:
    with_artifact(github, CORRUPTIONS[raised](archive()))
    earlier = {"id": 3, "user": {"login": "github-actions[bot]"}, "body": comment_text.body("old report", RUN_INFO)}
    github.answer("GET", "/repos/me/repo/issues/17/comments", [earlier])
    github.answer("PATCH", "/repos/me/repo/issues/comments/3", {"id": 3})
    status, _, err = run(github, capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    assert "accuracy-report artifact of run 4242 was refused" in err and raised.split(".")[-1] in err
    (marked,) = github.writes()
    assert marked.body["body"].startswith(f"{MARKER}\n{STALE} [Pull request run {RUN_ID}]")
    assert "uploaded a report that was refused" in marked.body["body"] and marked.body["body"].endswith("old report")


def test_an_artifact_larger_than_the_cap_is_not_read(github, capsys) -> None:
    with_artifact(github, b"PK" + b"\0" * MAX_ARTIFACT_BYTES)
    status, _, err = run(github, capsys)
    assert status == 1 and f"larger than {MAX_ARTIFACT_BYTES:,} bytes" in err
    assert github.writes() == []  # no comment to mark


def test_a_run_without_a_report_marks_the_earlier_comment_stale(github, capsys) -> None:
    github.answer("GET", f"/repos/me/repo/actions/runs/{RUN_ID}/artifacts", {"artifacts": []})
    earlier = comment_text.body("## MNIST accuracy report\nearlier numbers", RUN_INFO)
    github.answer("GET", "/repos/me/repo/issues/17/comments", [
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": earlier}])  # fmt: skip
    github.answer("PATCH", "/repos/me/repo/issues/comments/3", {"id": 3})
    status, out, _ = run(github, capsys, "--conclusion", "failure")
    assert status == 0 and "marked the comment on PR #17 stale" in out
    (marked,) = github.writes()
    lines = marked.body["body"].splitlines()
    assert lines[1] == (
        f"{STALE} [Pull request run {RUN_ID}]({RUN_URL}) on `c0ffeec` (**failure**) uploaded no report; "
        "the report below is from an earlier commit."
    )
    assert lines[2] == comment_text.header(RUN_INFO) and marked.body["body"].endswith("earlier numbers")


def test_a_run_without_a_report_and_no_earlier_comment_posts_nothing(github, capsys) -> None:
    github.answer("GET", f"/repos/me/repo/actions/runs/{RUN_ID}/artifacts", {"artifacts": [
        {"id": 5, "name": "accuracy-report", "expired": True}]})  # fmt: skip
    status, out, _ = run(github, capsys)
    assert status == 0 and "no earlier comment to mark stale" in out and github.writes() == []


def test_github_refusing_a_call_fails_the_step_with_its_message(github, capsys) -> None:
    with_artifact(github, archive())
    github.answer("POST", "/repos/me/repo/issues/17/comments", {"message": "Resource not accessible"}, status=403)
    status, _, err = run(github, capsys)
    assert status == 1 and "GitHub answered 403: Resource not accessible" in err


def test_without_a_token_the_step_is_a_usage_error(capsys) -> None:
    assert pr_comment.main(ARGS, {"GITHUB_REPOSITORY": "me/repo"}) == 2
    assert "no token" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--head-sha", "HEAD"), ("--run-url", "javascript:alert(1)"), ("--run-url", "https://x/a) [b](c"),
     ("--conclusion", "**success**"), ("--head-repo", "a/b/c")],
)  # fmt: skip
def test_event_values_of_the_wrong_shape_are_refused_before_any_call(flag: str, value: str, capsys) -> None:
    args = list(ARGS)
    args[args.index(flag) + 1] = value
    assert pr_comment.main(args, {}) == 2
