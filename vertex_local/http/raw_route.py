"""A hot path's route as raw ASGI, put first in the route table (serving/predict.py's :predict, gcs/objects.py's
media download): one regular expression on the path instead of Starlette's Route, Request and per-route exception
wrapper. A path it owns with another method answers 405 with Allow, as Starlette's Route does; errors raised by
`answer` go to the app's handlers as from any route."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send


class RawRoute(BaseRoute):
    path: ClassVar[re.Pattern[str]]  # the whole path; its named groups become path_params
    methods: ClassVar[tuple[str, ...]]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        found = self.path.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if found is None:
            return Match.NONE, {}
        return (Match.FULL if scope["method"] in self.methods else Match.PARTIAL), self.child_scope(found)

    def child_scope(self, found: re.Match[str]) -> Scope:
        """What the route adds to the request's scope once matched."""
        return {"path_params": found.groupdict()}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in self.methods:
            raise HTTPException(405, headers={"Allow": ", ".join(self.methods)})
        await self.answer(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
