"""scripts.github.rest against the stand-in GitHub: headers, paging, errors, and downloads through a redirect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.github.rest import PAGE_SIZE, GitHub, GitHubError, GitHubSetupError, TooLarge
from tests.support.github_rest import TOKEN, GitHubStandIn


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        yield stand_in


def client(github: GitHubStandIn) -> GitHub:
    return GitHub.from_env(github.environ())


def test_calls_carry_the_token_and_api_version_and_name_this_repository(github: GitHubStandIn) -> None:
    github.answer("GET", "/repos/me/repo/pulls", [])
    assert client(github).get("/repos/{repo}/pulls", {"head": "a:b c"}) == []
    (call,) = github.calls
    assert call.headers["authorization"] == f"Bearer {TOKEN}" and call.headers["x-github-api-version"] == "2022-11-28"
    assert call.query == {"head": "a:b c"}


def test_a_listing_is_read_page_by_page_until_a_short_page(github: GitHubStandIn) -> None:
    github.answer("GET", "/repos/me/repo/issues/1/comments", [{"id": n} for n in range(PAGE_SIZE)])
    with pytest.raises(GitHubError, match="more than 50 pages"):  # every page full: a listing without end
        client(github).pages("/repos/{repo}/issues/1/comments")
    github.answer("GET", "/repos/me/repo/issues/1/comments", [{"id": 1}])
    assert client(github).pages("/repos/{repo}/issues/1/comments") == [{"id": 1}]


def test_githubs_refusal_is_one_line_with_its_message(github: GitHubStandIn) -> None:
    github.answer("POST", "/repos/me/repo/issues/1/comments", {"message": "Resource not\naccessible"}, status=403)
    with pytest.raises(GitHubError) as refused:
        client(github).post("/repos/{repo}/issues/1/comments", {"body": "x"})
    assert str(refused.value) == "POST /repos/me/repo/issues/1/comments: GitHub answered 403: Resource not accessible"


def test_a_download_follows_the_redirect_without_the_token_and_stops_at_the_limit(github: GitHubStandIn) -> None:
    github.answer("GET", "/repos/me/repo/actions/artifacts/5/zip", redirect="/storage/a.zip")
    github.answer("GET", "/storage/a.zip", raw=b"x" * 1000)
    assert client(github).download("/repos/{repo}/actions/artifacts/5/zip", 1000) == b"x" * 1000
    assert "authorization" not in github.calls[-1].headers
    with pytest.raises(TooLarge, match="larger than 999 bytes"):
        client(github).download("/repos/{repo}/actions/artifacts/5/zip", 999)


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://example.com/a.zip"])
def test_a_redirect_to_anything_but_a_web_url_is_not_followed(github: GitHubStandIn, location: str) -> None:
    github.answer("GET", "/repos/me/repo/actions/artifacts/5/zip", redirect=location)
    with pytest.raises(GitHubError, match="not an https URL"):
        client(github).download("/repos/{repo}/actions/artifacts/5/zip", 1000)


@pytest.mark.parametrize(
    ("environ", "message"),
    [({"GITHUB_REPOSITORY": "me/repo"}, "no token"), ({"GH_TOKEN": "t", "GITHUB_REPOSITORY": "me"}, "owner/name")],
)
def test_a_missing_token_or_repository_is_a_setup_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(GitHubSetupError, match=message):
        GitHub.from_env(environ)
