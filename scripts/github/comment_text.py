"""The text of the sticky accuracy-report comment: our header line, then the report the PR's run uploaded.

    <!-- mnist-accuracy-report -->             the marker report-comment finds its comment by
    ⚠️ **Stale:** ...                         only when a later run produced no usable report
    ✅ [Pull request run N](url) on `abc1234` concluded **success**. ...    written here, from GitHub's data
    <!-- mnist-accuracy-report:run-output -->  everything below came from the PR's code
    ...the report, @mentions neutralised...

Pure functions of strings; scripts.pr_comment does the talking to GitHub.
"""

from __future__ import annotations

import dataclasses
import re

MARKER = "<!-- mnist-accuracy-report -->"  # the first line scripts.report writes, too
RUN_OUTPUT = "<!-- mnist-accuracy-report:run-output -->"
STALE = "⚠️ **Stale:**"
LIMIT = 65_000  # GitHub refuses comment bodies over 65,536 characters
CUT_NOTE = "\n\n_Cut to fit a comment: the full report is in the run's artifacts._"
MARKS = {"success": "✅", "failure": "❌", "timed_out": "❌", "startup_failure": "❌"}
# GitHub resolves character references and emphasis before its mention filter looks at the text, and that
# filter's word boundary is ASCII (html-pipeline's MentionFilter: `(?:^|\W)@([a-z0-9][a-z0-9-]*)`). So an `@`
# written as a reference (`&#64;`, `&#x40;`, `&commat;`; browsers also take `&#64` without its `;`) counts,
# `_@name_` is <em>@name</em>, `café@name` mentions, and a name may itself begin with a reference.
AT_REFERENCE = re.compile(r"&#0*64(?:;|(?![0-9]))|&#[xX]0*40(?:;|(?![0-9A-Fa-f]))|&commat;")
# `@` opening a user or team name: not after an ASCII letter or digit (so not in an e-mail address), before a
# letter, a digit or a character reference. Neutralising a few `@`s GitHub would not take costs nothing.
MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9&])")
ZERO_WIDTH_SPACE = "\u200b"  # GitHub renders "@\u200bname" as text, notifying nobody


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """The triggering run, as GitHub's workflow_run event describes it (trusted)."""

    run_id: int
    url: str
    conclusion: str
    head_sha: str


def header(run: RunInfo) -> str:
    mark = MARKS.get(run.conclusion, "⚠️")
    return (
        f"{mark} [Pull request run {run.run_id}]({run.url}) on `{run.head_sha[:7]}` concluded **{run.conclusion}**. "
        "Below is the report that run uploaded: it was written by this pull request's code."
    )


def neutralise_mentions(text: str) -> str:
    """@name and @org/team stay readable but mention, and so notify, no one."""
    return MENTION.sub("@" + ZERO_WIDTH_SPACE, AT_REFERENCE.sub("@" + ZERO_WIDTH_SPACE, text))


def body(report: str, run: RunInfo) -> str:
    """The whole comment: marker, our header, then the report (its own marker line dropped), within LIMIT."""
    lines = report.splitlines()
    if lines and lines[0].strip() == MARKER:
        lines = lines[1:]
    text = "\n".join([MARKER, header(run), RUN_OUTPUT, neutralise_mentions("\n".join(lines))])
    return text if len(text) <= LIMIT else text[: LIMIT - len(CUT_NOTE)] + CUT_NOTE


def is_ours(text: str) -> bool:
    return text.startswith(MARKER)


def stale(previous: str, run: RunInfo, why: str) -> str:
    """The earlier comment, kept, under a line saying which later run did not replace it and why."""
    head, output = split(previous)
    note = (
        f"{STALE} [Pull request run {run.run_id}]({run.url}) on `{run.head_sha[:7]}` "
        f"(**{run.conclusion}**) {why}; the report below is from an earlier commit."
    )
    text = "\n".join([MARKER, note, *(line for line in head if not line.startswith(STALE)), RUN_OUTPUT, output])
    return text if len(text) <= LIMIT else text[: LIMIT - len(CUT_NOTE)] + CUT_NOTE


def split(comment: str) -> tuple[list[str], str]:
    """(our header lines, the run's output) of a comment body() wrote; older comments are all output."""
    rest = comment[len(MARKER) :].lstrip("\n") if is_ours(comment) else comment
    head, found, output = rest.partition(RUN_OUTPUT)
    if not found:
        return [], rest
    return [line for line in head.splitlines() if line.strip()], output.lstrip("\n")
