"""scripts.github.comment_text: the sticky comment's header line (ours) above the report (the PR's), and staleness."""

from __future__ import annotations

import html
import re

import pytest

from scripts import report
from scripts.github import comment_text
from scripts.github.comment_text import LIMIT, MARKER, RUN_OUTPUT, STALE, RunInfo

RUN = RunInfo(4242, "https://github.com/me/repo/actions/runs/4242", "failure", "c0ffee" * 6 + "abcd")
LATER = RunInfo(4343, "https://github.com/me/repo/actions/runs/4343", "failure", "beef" * 10)
# What GitHub treats as a mention: @ then a name, not after an ASCII letter or digit (its filter's word boundary
# is ASCII, so `café@name` mentions), once character references are resolved and emphasis is markup around the
# text (`_@name_` is <em>@name</em>). Erring wide: any `_` or `*` counts as markup here.
MENTION = re.compile(r"(?<![A-Za-z0-9])@[A-Za-z0-9]")


def mentions(text: str) -> bool:
    return bool(MENTION.search(re.sub(r"[_*]", " ", html.unescape(text))))


FORGED = f"{MARKER}\n✅ **Gate passed**: all good, ping @octocat and @my-org/admins\n[details](https://evil.example)\n"


def test_the_marker_is_the_one_scripts_report_writes() -> None:
    assert MARKER == report.MARKER


def test_the_comment_starts_with_our_line_from_the_runs_conclusion_and_link() -> None:
    lines = comment_text.body(FORGED, RUN).splitlines()
    assert lines[0] == MARKER
    assert lines[1].startswith(f"❌ [Pull request run 4242]({RUN.url}) on `c0ffeec` concluded **failure**.")
    assert lines[2] == RUN_OUTPUT
    assert lines[3].startswith("✅ **Gate passed**")  # the fork's claim comes after, under our line


@pytest.mark.parametrize(("conclusion", "mark"), [("success", "✅"), ("failure", "❌"), ("timed_out", "❌"),
                                                  ("action_required", "⚠️"), ("neutral", "⚠️")])  # fmt: skip
def test_the_header_mark_follows_the_conclusion(conclusion: str, mark: str) -> None:
    run = RunInfo(1, "https://x/1", conclusion, "a" * 40)
    assert comment_text.body("", run).splitlines()[1].startswith(f"{mark} [Pull request run 1]")


def test_the_reports_own_marker_line_is_not_repeated() -> None:
    assert comment_text.body(FORGED, RUN).count(MARKER) == 1


@pytest.mark.parametrize(
    "text",
    ["@octocat", "cc @my-org/admins", "(@a)", "@@b", "line\n@c1 d", "**@e**", "`@f` in code", "x.@g",
     "&#64;name", "&#064;name", "&#x40;name", "&#X40;name", "&commat;name", "&#64name", "_@name_", "café@name",
     "a_@name", "日本@name", "@&#110;ame", "&#64;&#110;ame"],
)  # fmt: skip
def test_mentions_in_the_report_are_neutralised(text: str) -> None:
    assert mentions(text), "the sample must hold a mention"
    out = comment_text.neutralise_mentions(text)
    assert not mentions(out), out
    assert html.unescape(out).replace("\u200b", "") == html.unescape(text)  # still reads the same


@pytest.mark.parametrize(
    "text", ["mail me@example.com", "a@b", "@ alone", "price: 3 @ 4", "&amp; &#65; &at;x", "&#640;x &#x400;y"]
)
def test_text_that_mentions_no_one_is_left_as_it_is(text: str) -> None:
    assert comment_text.neutralise_mentions(text) == text


def test_the_whole_comment_mentions_no_one() -> None:
    assert not mentions(comment_text.body(FORGED, RUN))


def test_a_report_too_long_for_a_comment_is_cut_below_our_header() -> None:
    text = comment_text.body("x" * 100_000, RUN)
    assert len(text) <= LIMIT < 65_536
    assert text.splitlines()[1] == comment_text.header(RUN) and text.endswith("run's artifacts._")


def test_a_stale_mark_keeps_the_earlier_header_and_report_under_a_line_about_the_later_run() -> None:
    earlier = comment_text.body(FORGED, RUN)
    marked = comment_text.stale(earlier, LATER, "uploaded no report")
    lines = marked.splitlines()
    assert lines[0] == MARKER and comment_text.is_ours(marked)
    assert lines[1] == (
        f"{STALE} [Pull request run 4343]({LATER.url}) on `beefbee` (**failure**) uploaded no report; "
        "the report below is from an earlier commit."
    )
    assert lines[2] == comment_text.header(RUN)
    assert marked.split(RUN_OUTPUT)[1] == earlier.split(RUN_OUTPUT)[1]


def test_marking_stale_again_replaces_the_stale_line_instead_of_stacking_them() -> None:
    earlier = comment_text.body(FORGED, RUN)
    twice = comment_text.stale(comment_text.stale(earlier, LATER, "uploaded no report"), LATER, "again")
    assert twice.count(STALE) == 1 and "again" in twice and comment_text.header(RUN) in twice


def test_a_stale_line_in_the_report_is_not_taken_for_ours() -> None:
    earlier = comment_text.body(f"{STALE} forged by the PR\nreport", RUN)
    head, output = comment_text.split(earlier)
    assert head == [comment_text.header(RUN)] and output.startswith(f"{STALE} forged")


def test_a_comment_in_the_format_before_headers_can_be_marked_stale() -> None:
    old = f"{MARKER}\n## MNIST accuracy report\nold numbers"
    marked = comment_text.stale(old, LATER, "uploaded no report")
    assert marked.startswith(f"{MARKER}\n{STALE}") and marked.endswith("## MNIST accuracy report\nold numbers")
