"""The traffic-split table predict reads: which deployed models serve each endpoint, and with what weights.

Endpoint writes publish a fresh, immutable EndpointRoute; predict never touches SQLite or disk. Predict
marks each request's start and end here, so an undeploy can wait until no request still uses a model
before unloading it. After a restart, models load in the background: a request for one still loading waits here
for it (never a wrong answer; health answers at once), and one that could not be loaded is marked unavailable.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import dataclasses
import itertools
import random

from vertex_local.documents import EndpointDoc
from vertex_local.errors import ApiError


@dataclasses.dataclass(frozen=True)
class DeployedTarget:
    deployed_model_id: str
    model: str  # projects/P/locations/L/models/ID, without a version
    model_version_id: str
    model_display_name: str


@dataclasses.dataclass(frozen=True)
class EndpointRoute:
    name: str
    targets: tuple[DeployedTarget, ...]  # only models with a share of the traffic
    cumulative: tuple[int, ...]  # running totals of the targets' percentages

    def pick(self, rng: random.Random) -> DeployedTarget:
        """A deployed model chosen at random, weighted by the traffic split."""
        if not self.targets:
            raise ApiError(400, f"endpoint {self.name} has no deployed model with traffic", "FAILED_PRECONDITION")
        if len(self.targets) == 1:
            return self.targets[0]
        return self.targets[bisect.bisect_right(self.cumulative, rng.randrange(self.cumulative[-1]))]


def route_from_endpoint(doc: EndpointDoc) -> EndpointRoute:
    """Build the view of one endpoint document (vertex_local/documents.py)."""
    name = f"{doc['parent']}/endpoints/{doc['id']}"
    split = doc.get("trafficSplit") or {}
    targets = tuple(
        DeployedTarget(
            deployed_model_id=deployed["id"],
            model=deployed["model"],
            model_version_id=deployed["modelVersionId"],
            model_display_name=doc["serving"][deployed["id"]]["modelDisplayName"],
        )
        for deployed in doc.get("deployedModels", [])
        if split.get(deployed["id"], 0) > 0
    )
    cumulative = tuple(itertools.accumulate(split[target.deployed_model_id] for target in targets))
    return EndpointRoute(name, targets, cumulative)


class TrafficTable:
    """Every endpoint's route, the requests in flight per deployed model, and the models that cannot serve."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._routes: dict[str, EndpointRoute] = {}
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._idle: dict[str, asyncio.Event] = {}  # set when a draining model's last request ends
        self._unavailable: dict[str, str] = {}  # deployed model id -> why it could not be loaded
        self._loading: dict[str, asyncio.Event] = {}  # deployed model id -> set once its restore has ended

    def publish(self, doc: EndpointDoc) -> None:
        self._routes[doc["id"]] = route_from_endpoint(doc)

    def withdraw(self, endpoint_id: str) -> None:
        self._routes.pop(endpoint_id, None)

    def route(self, parent: str, endpoint_id: str) -> EndpointRoute:
        route = self._routes.get(endpoint_id)
        if route is None or route.name != f"{parent}/endpoints/{endpoint_id}":
            raise ApiError(404, f"endpoint {parent}/endpoints/{endpoint_id} not found")
        return route

    def begin(self, deployed_model_id: str) -> None:
        """A request now uses the model; undeploy waits for its end()."""
        self._in_flight[deployed_model_id] += 1

    def end(self, deployed_model_id: str) -> None:
        self._in_flight[deployed_model_id] -= 1
        if self._in_flight[deployed_model_id] <= 0 and deployed_model_id in self._idle:
            self._idle[deployed_model_id].set()

    def mark_unavailable(self, deployed_model_id: str, reason: str) -> None:
        self._unavailable[deployed_model_id] = reason

    def mark_available(self, deployed_model_id: str) -> None:
        self._unavailable.pop(deployed_model_id, None)

    def mark_loading(self, deployed_model_id: str) -> None:
        self._loading[deployed_model_id] = asyncio.Event()

    def mark_loaded(self, deployed_model_id: str) -> None:
        """Its restore has ended, loaded or marked unavailable: requests waiting for it go on."""
        event = self._loading.pop(deployed_model_id, None)
        if event is not None:
            event.set()

    async def loaded(self, deployed_model_id: str) -> None:
        """Return once the deployed model is not being restored any more (at once for every other)."""
        event = self._loading.get(deployed_model_id)
        if event is not None:
            await event.wait()

    def check_available(self, deployed_model_id: str) -> None:
        """503 for a deployed model that could not be loaded (its artifact is gone or broken)."""
        reason = self._unavailable.get(deployed_model_id)
        if reason is not None:
            raise ApiError(503, f"deployed model {deployed_model_id} is not loaded: {reason}")

    async def drained(self, deployed_model_id: str) -> None:
        """Return once no predict request is using the deployed model any more."""
        if self._in_flight[deployed_model_id] > 0:
            idle = self._idle.setdefault(deployed_model_id, asyncio.Event())
            await idle.wait()
        self._in_flight.pop(deployed_model_id, None)
        self._idle.pop(deployed_model_id, None)
        self._unavailable.pop(deployed_model_id, None)
