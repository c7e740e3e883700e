"""A stand-in for GitHub's REST API: a real HTTP server on 127.0.0.1 that answers from a table and records calls.

GitHub is out of reach from the tests, so the steps that talk to it (scripts.pr_comment, scripts.release_guard)
are pointed at this server through GITHUB_API_URL, as a runner points them at api.github.com:

    with GitHubStandIn() as github:
        github.answer("GET", "/repos/me/repo/pulls", [{"number": 17, ...}])
        github.answer("GET", "/repos/me/repo/actions/artifacts/5/zip", redirect="/storage/a.zip")
        github.answer("GET", "/storage/a.zip", raw=zip_bytes)
        ... run the step with github.environ() ...
        github.calls  # every request: method, path, query, headers, JSON body
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import urllib.parse
from typing import Any

TOKEN = "test-token"


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int = 200
    json: Any = None
    raw: bytes | None = None
    redirect: str | None = None  # Location: a /path on this server (sent absolute), or any URL as it is


class GitHubStandIn:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, json: Any = None, status: int = 200, **kwargs: Any) -> None:
        """What `method path` answers (any query); unanswered requests get GitHub's 404."""
        self.answers[(method, path)] = Answer(status, json, **kwargs)

    def environ(self, repo: str = "me/repo", **extra: str) -> dict[str, str]:
        """The variables a runner gives a step that talks to GitHub."""
        return {"GITHUB_API_URL": self.url, "GITHUB_REPOSITORY": repo, "GH_TOKEN": TOKEN, **extra}

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method in ("POST", "PATCH", "PUT", "DELETE")]

    def __enter__(self) -> GitHubStandIn:
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, at the end of every test that uses it.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the test reads .calls instead
                pass

            def handle_one(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                text = self.rfile.read(length).decode() if length else ""
                call = Call(
                    self.command,
                    parts.path,
                    dict(urllib.parse.parse_qsl(parts.query)),
                    {key.lower(): value for key, value in self.headers.items()},
                    json.loads(text) if text else None,
                )
                with stand_in.lock:
                    stand_in.calls.append(call)
                found = stand_in.answers.get((self.command, parts.path), Answer(404, {"message": "Not Found"}))
                self.reply(found)

            def reply(self, found: Answer) -> None:
                if found.redirect is not None:
                    self.send_response(302)
                    location = found.redirect
                    self.send_header("Location", f"{stand_in.url}{location}" if location.startswith("/") else location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = found.raw if found.raw is not None else json.dumps(found.json).encode()
                self.send_response(found.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one

        return Handler
