"""The in-memory view predict reads: which deployed models serve each endpoint, and with what weights.

Endpoint writes publish a fresh, immutable EndpointRoute; predict never touches SQLite or disk.
In-flight counts let an undeploy wait until no request still uses a model before unloading it.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import dataclasses
import itertools
import random
from typing import Any

from vertex_local.errors import ApiError

DRAIN_POLL_S = 0.01  # how often an undeploy checks whether requests in flight have finished


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


def route_from_endpoint(doc: dict[str, Any]) -> EndpointRoute:
    """Build the view of one endpoint document (see vertex_local.endpoints)."""
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


class RoutingTable:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.routes: dict[str, EndpointRoute] = {}
        self.in_flight: collections.Counter[str] = collections.Counter()
        self.unavailable: dict[str, str] = {}  # deployed model id -> why it could not be loaded

    def publish(self, doc: dict[str, Any]) -> None:
        self.routes[doc["id"]] = route_from_endpoint(doc)

    def withdraw(self, endpoint_id: str) -> None:
        self.routes.pop(endpoint_id, None)

    def route(self, parent: str, endpoint_id: str) -> EndpointRoute:
        route = self.routes.get(endpoint_id)
        if route is None or route.name != f"{parent}/endpoints/{endpoint_id}":
            raise ApiError(404, f"endpoint {parent}/endpoints/{endpoint_id} not found")
        return route

    async def drained(self, deployed_model_id: str) -> None:
        """Return once no predict request is using the deployed model any more."""
        while self.in_flight[deployed_model_id] > 0:
            await asyncio.sleep(DRAIN_POLL_S)
        self.in_flight.pop(deployed_model_id, None)
