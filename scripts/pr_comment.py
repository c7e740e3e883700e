"""Post a finished pull request run's accuracy report as ONE comment on its PR: python -m scripts.pr_comment

    python -m scripts.pr_comment --run-id 123 --run-url URL --conclusion success \
        --head-sha SHA --head-repo fork-owner/repo --head-branch my-branch

report-comment.yml runs it from the default branch with a token that may write PR comments, after pr.yml ran
the PR's (possibly a fork's) code. Everything from that run is data: the PR is the open one whose head is
the run's commit (looked up, never taken from the artifact), the artifact is read by scripts.github.report_artifact,
the comment starts with a line written here from the run's conclusion and link, and @mentions in the
report are neutralised. A run without a report (or with a refused one) marks the earlier comment stale.
Exit status: 0 posted, updated or nothing to do; 1 refused or GitHub failed; 2 usage. Standard library only.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence

from scripts.core.step_runner import Environ, StepResult, run_main, say
from scripts.github import comment_text
from scripts.github.comment_text import RunInfo
from scripts.github.report_artifact import ARTIFACT, MAX_ARTIFACT_BYTES, ArtifactError, Report, read_report
from scripts.github.rest import GITHUB_ERRORS, GitHub, Refused, TooLarge

STEP = "pr_comment"
BOT = "github-actions[bot]"  # the author of comments made with a workflow's GITHUB_TOKEN
# A run's conclusion, as GitHub reports it (REST API: workflow runs).
CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale",
               "startup_failure")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="owner/name of this repository (default: $GITHUB_REPOSITORY)")
    parser.add_argument("--run-id", type=int, required=True, help="the finished pull request run")
    parser.add_argument("--run-url", type=pattern(r"https?://[^\s()<>\[\]]+", "a URL"), required=True)
    parser.add_argument("--conclusion", choices=CONCLUSIONS, required=True)
    parser.add_argument("--head-sha", type=pattern(r"[0-9a-f]{40}|[0-9a-f]{64}", "a commit SHA"), required=True)
    parser.add_argument("--head-repo", type=pattern(r"[\w.-]+/[\w.-]+", "owner/name"), required=True)
    parser.add_argument("--head-branch", required=True, help="the PR's branch in --head-repo")
    return parser


def pattern(regex: str, what: str) -> Callable[[str], str]:
    """An argparse type that accepts only text matching `regex` whole."""

    def check(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise argparse.ArgumentTypeError(f"{text[:80]!r} is not {what}")
        return text

    return check


def tested_pull_requests(gh: GitHub, run: RunInfo, head_repo: str, head_branch: str) -> list[int]:
    """Open PRs of this repository whose head is the run's branch, still at the run's commit."""
    owner = head_repo.split("/")[0]
    pulls = gh.pages("/repos/{repo}/pulls", {"state": "open", "head": f"{owner}:{head_branch}"})
    return [
        int(pull["number"])
        for pull in pulls
        if pull.get("head", {}).get("sha") == run.head_sha
        and (pull.get("head", {}).get("repo") or {}).get("full_name", "").lower() == head_repo.lower()
    ]


def fetch_report(gh: GitHub, run_id: int) -> Report | None:
    """The run's report, or None when it uploaded none (or it expired)."""
    artifacts = gh.pages(f"/repos/{{repo}}/actions/runs/{run_id}/artifacts", {"name": ARTIFACT}, key="artifacts")
    found = [a for a in artifacts if a.get("name") == ARTIFACT and not a.get("expired")]
    if not found:
        return None
    if len(found) > 1:
        raise ArtifactError(f"the run uploaded {len(found)} artifacts named {ARTIFACT}")
    try:
        archive = gh.download(f"/repos/{{repo}}/actions/artifacts/{int(found[0]['id'])}/zip", MAX_ARTIFACT_BYTES)
    except TooLarge as exc:
        raise ArtifactError(str(exc)) from None
    return read_report(archive)


def own_comment(gh: GitHub, pr: int) -> dict | None:
    """The comment this workflow posted on the PR before, if any."""
    for comment in gh.pages(f"/repos/{{repo}}/issues/{pr}/comments"):
        if (comment.get("user") or {}).get("login") == BOT and comment_text.is_ours(comment.get("body") or ""):
            return comment
    return None


def post(gh: GitHub, pr: int, body: str) -> str:
    """Update the PR's comment in place, or create it."""
    mine = own_comment(gh, pr)
    if mine is not None:
        gh.patch(f"/repos/{{repo}}/issues/comments/{int(mine['id'])}", {"body": body})
        return f"updated the comment on PR #{pr}"
    gh.post(f"/repos/{{repo}}/issues/{pr}/comments", {"body": body})
    return f"created the comment on PR #{pr}"


def mark_stale(gh: GitHub, prs: list[int], run: RunInfo, why: str) -> list[str]:
    """Say on each PR's earlier comment that it is not about this run's commit."""
    done = []
    for pr in prs:
        mine = own_comment(gh, pr)
        if mine is not None:
            body = comment_text.stale(mine["body"], run, why)
            gh.patch(f"/repos/{{repo}}/issues/comments/{int(mine['id'])}", {"body": body})
            done.append(f"marked the comment on PR #{pr} stale")
    return done or ["no earlier comment to mark stale"]


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    """Post (or mark stale), saying what was done a line each; Refused or GitHubError when nothing could be posted."""
    for line in comment(args, environ):
        say(STEP, line)
    return StepResult()


def comment(args: argparse.Namespace, environ: Mapping[str, str]) -> list[str]:
    """What was done, one line each; Refused or GitHubError when nothing could be posted."""
    gh = GitHub.from_env(environ, args.repo)
    info = RunInfo(args.run_id, args.run_url, args.conclusion, args.head_sha)
    prs = tested_pull_requests(gh, info, args.head_repo, args.head_branch)
    if not prs:
        return [f"no open pull request is at {args.head_sha[:12]} any more: nothing to post"]
    try:
        report = fetch_report(gh, args.run_id)
    except ArtifactError as exc:
        mark_stale(gh, prs, info, "uploaded a report that was refused")
        raise Refused(f"the {ARTIFACT} artifact of run {args.run_id} was refused: {exc}") from None
    if report is None:
        return mark_stale(gh, prs, info, "uploaded no report")
    if report.pr_number not in prs:
        mark_stale(gh, prs, info, "uploaded a report that was refused")
        tested = ", ".join(f"#{pr}" for pr in prs)
        raise Refused(f"the artifact names PR #{report.pr_number}, but run {args.run_id} tested {tested}")
    return [post(gh, report.pr_number, comment_text.body(report.markdown, info))]


def main(argv: Sequence[str] | None = None, environ: Environ | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv, environ, GITHUB_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
