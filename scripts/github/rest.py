"""GitHub's REST API on the standard library, for the steps that run on a bare runner (no `make venv`).

GitHub(api_url, token, repo).get/post/patch send JSON and return the decoded answer; pages() walks a
listing; download() fetches an archive through the redirect GitHub answers with, without sending the token
to the storage host and never reading more than a given number of bytes. from_env() takes what a runner sets:
GITHUB_API_URL, GITHUB_REPOSITORY and the token in GH_TOKEN or GITHUB_TOKEN.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from scripts.core.step_runner import EXIT_FAILED, EXIT_USAGE, KnownError, StepError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"  # https://docs.github.com/en/rest/about-the-rest-api/api-versions
TIMEOUT_S = 30.0
PAGE_SIZE = 100  # the most GitHub lists per page
MAX_PAGES = 50  # 5,000 items: far beyond a pull request's comments; a bound on a misbehaving listing


class GitHubError(RuntimeError):
    """GitHub refused a call, could not be reached, or answered something unusable."""


class GitHubSetupError(GitHubError):
    """No token or no repository to talk about: a usage error, not GitHub's."""


class TooLarge(GitHubError):
    """A download over the caller's limit; nothing of it is kept."""


class Refused(StepError):
    """A check the step exists to make did not pass: one stderr line and exit 1."""


# For step_runner.run_main: no token or repository is a usage error, anything GitHub did a failure of the step.
GITHUB_ERRORS = (KnownError(GitHubSetupError, EXIT_USAGE), KnownError(GitHubError, EXIT_FAILED))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as HTTPError, so the caller decides where the token goes."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclasses.dataclass(frozen=True)
class GitHub:
    api_url: str
    token: str
    repo: str  # owner/name

    @classmethod
    def from_env(cls, environ: Mapping[str, str], repo: str | None = None) -> GitHub:
        token = environ.get("GH_TOKEN") or environ.get("GITHUB_TOKEN")
        if not token:
            raise GitHubSetupError("no token: set GH_TOKEN (the workflow passes github.token)")
        repo = repo or environ.get("GITHUB_REPOSITORY", "")
        if repo.count("/") != 1:
            raise GitHubSetupError(f"repository {repo!r} is not owner/name (--repo or GITHUB_REPOSITORY)")
        return cls(environ.get("GITHUB_API_URL", DEFAULT_API_URL).rstrip("/"), token, repo)

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """`/repos/{repo}/...` paths name this repository; the query is encoded here."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.api_url}{path.replace('{repo}', self.repo)}{query}"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._json("GET", self.url(path, params))

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._json("POST", self.url(path), body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._json("PATCH", self.url(path), body)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, key: str | None = None) -> list[Any]:
        """Every item of a listing, page by page; `key` names the list in answers that wrap it."""
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            answer = self.get(path, {**(params or {}), "per_page": PAGE_SIZE, "page": page})
            batch = answer.get(key, []) if key else answer
            if not isinstance(batch, list):
                raise GitHubError(f"GET {path}: expected a list, got {type(batch).__name__}")
            items += batch
            if len(batch) < PAGE_SIZE:
                return items
        raise GitHubError(f"GET {path}: more than {MAX_PAGES} pages")

    def download(self, path: str, limit: int) -> bytes:
        """An archive GitHub serves by redirecting to storage: at most `limit` bytes, else GitHubError.

        The redirect target is signed; the token stays with GitHub (as actions/toolkit does for artifacts).
        """
        try:
            with _OPENER.open(self._request("GET", self.url(path)), timeout=TIMEOUT_S) as answer:
                return _read_capped(answer, limit, path)  # served directly, no redirect
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if exc.code in (301, 302, 303, 307, 308) else None
            if location is None:
                raise _http_error("GET", path, exc) from None
        target = urllib.parse.urljoin(self.url(path), location)
        if urllib.parse.urlsplit(target).scheme not in {"https", urllib.parse.urlsplit(self.api_url).scheme}:
            raise GitHubError(f"GET {path}: redirected to {target[:60]!r}, not an https URL")
        storage = urllib.request.Request(target, headers={"User-Agent": "vertex-mnist-cicd"})
        try:
            with _OPENER.open(storage, timeout=TIMEOUT_S) as answer:
                return _read_capped(answer, limit, path)
        except urllib.error.HTTPError as exc:
            raise GitHubError(f"GET {path}: the storage host answered {exc.code}") from None
        except urllib.error.URLError as exc:
            raise GitHubError(f"GET {path}: cannot reach the storage host ({exc.reason})") from None

    def _request(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> urllib.request.Request:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "vertex-mnist-cicd",
        }
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def _json(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> Any:
        path = urllib.parse.urlsplit(url).path
        try:
            with _OPENER.open(self._request(method, url, body), timeout=TIMEOUT_S) as answer:
                text = answer.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise _http_error(method, path, exc) from None
        except urllib.error.URLError as exc:
            raise GitHubError(f"{method} {path}: cannot reach {self.api_url} ({exc.reason})") from None
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            raise GitHubError(f"{method} {path}: the answer is not JSON") from None


def _read_capped(answer: Any, limit: int, path: str) -> bytes:
    data = answer.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"GET {path}: larger than {limit:,} bytes, not read")
    return data


def _http_error(method: str, path: str, exc: urllib.error.HTTPError) -> GitHubError:
    """GitHub's own message when it gave one (`{"message": ...}`), cut to one short line."""
    try:
        message = str(json.loads(exc.read(4096).decode("utf-8", "replace")).get("message", ""))
    except (ValueError, AttributeError, OSError):
        message = ""
    detail = f": {' '.join(message.split())[:200]}" if message else ""
    return GitHubError(f"{method} {path}: GitHub answered {exc.code}{detail}")
