"""POST .../endpoints/{id}:rawPredict: the request body goes to the model's server as it is, and its answer back.

Vertex passes a rawPredict body to the serving container unchanged and returns the container's own answer,
adding the headers X-Vertex-AI-Endpoint-Id and X-Vertex-AI-Deployed-Model-Id
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.endpoints/rawPredict), and the
answering model's X-Vertex-AI-Model and X-Vertex-AI-Model-Version-Id, which google-cloud-aiplatform's
`predict(use_raw_predict=True)` reads from every answer (the first as required: aiplatform/models.py). For the
prebuilt TensorFlow images that server is TF Serving, whose REST predict answer is {"predictions": [...]}
only. vertex-local runs the body through the same path as :predict (traffic split, batching, metrics) and
answers TF Serving's shape; like the SDK, curl sends the payload itself, not an {"httpBody": ...} wrapper.
"""

from __future__ import annotations

from typing import Protocol

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.http.bodies import ClientGone, read_body


class Predicts(Protocol):
    """What rawPredict needs of serving's PredictApi (passed in by app.py: a surface never imports another's
    routes module)."""

    limits: Serving

    async def predict(self, params: dict[str, str], body: bytes) -> bytes: ...


class RawPredict:
    def __init__(self, predict: Predicts) -> None:
        self.predict = predict

    async def raw_predict(self, request: Request) -> Response:
        limit = self.predict.limits.max_body_bytes  # the same 1.5 MB as :predict
        too_big = ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")
        try:
            body = await read_body(request.scope, request.receive, limit, too_big)
        except ClientGone:
            raise ClientDisconnect() from None
        answer = orjson.loads(await self.predict.predict(dict(request.path_params), body))
        headers = {
            "X-Vertex-AI-Endpoint-Id": request.path_params["endpoint"],
            "X-Vertex-AI-Deployed-Model-Id": answer["deployedModelId"],
            "X-Vertex-AI-Model": answer["model"],
            "X-Vertex-AI-Model-Version-Id": answer["modelVersionId"],
        }
        return Response(orjson.dumps({"predictions": answer["predictions"]}), 200, headers, "application/json")
