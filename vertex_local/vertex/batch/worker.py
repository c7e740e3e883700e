"""One batch prediction job's process: python -m vertex_local.vertex.batch.worker SPEC_JSON (vertex-local starts it).

It streams each input object from the server's Cloud Storage JSON API one line at a time (a line is at most
max_line_bytes; a batch of batch_size images is the most it holds), predicts with the SavedModel's
serving_default, and writes JSON Lines files: results ({"instance", "prediction"}) and errors ({"instance",
"error"} for a line that is not JSON or not an image). At the end it writes its counts to the stats file. The
server uploads the files and sets the job's state (service.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import numpy as np

from vertex_local.errors import RPC_CODES, ApiError
from vertex_local.serving.instances import images_array, unwrap_named_inputs
from vertex_local.serving.model_server import LoadedModel, load_saved_model

TOKEN_VARIABLE = "VERTEX_LOCAL_TOKEN"  # as vertex_local.daemon names it: the server's bearer token, if any
READ_TIMEOUT_S = 300.0
QUOTED_BAD_LINE_CHARS = 1000  # of a line that is not JSON, kept in the errors file


@dataclasses.dataclass(frozen=True)
class Spec:
    model_dir: str
    inputs: list[str]  # gs:// URIs of objects
    storage_url: str
    results: str  # local files
    errors: str
    stats: str
    batch_size: int
    max_line_bytes: int


def lines_of(uri: str, storage_url: str, max_line_bytes: int) -> Iterator[bytes | None]:
    """The object's lines, read as they arrive; None for a line longer than max_line_bytes (skipped)."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    url = f"{storage_url}/download/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
    token = os.environ.get(TOKEN_VARIABLE)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as stream:
        yield from bounded_lines(stream, max_line_bytes)


def bounded_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[bytes | None]:
    """Lines without their end; None stands for one too long, whose rest is read and dropped a piece at a time."""
    while line := stream.readline(max_line_bytes + 1):
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(max_line_bytes + 1)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        if line.strip():
            yield line.rstrip(b"\r\n")


def error_line(instance: Any, message: str) -> str:
    return json.dumps({"instance": instance, "error": {"code": RPC_CODES["INVALID_ARGUMENT"], "message": message}})


class Predictor:
    """Batches good instances, writes each prediction beside its instance and each bad line to the errors."""

    def __init__(self, model: LoadedModel, spec: Spec, results: IO[str], errors: IO[str]) -> None:
        self.model, self.spec, self.results, self.errors = model, spec, results, errors
        self.pending: list[tuple[Any, np.ndarray]] = []
        self.successful = self.failed = 0

    def add(self, line: bytes | None) -> None:
        if line is None:
            return self.fail(None, f"the line is longer than {self.spec.max_line_bytes} bytes")
        try:
            instance = json.loads(line)
        except ValueError as exc:
            return self.fail(line[:QUOTED_BAD_LINE_CHARS].decode(errors="replace"), f"not a JSON value: {exc}")
        try:
            # parsed against the model's own serving_default input, as online predictions are (serving/)
            image = images_array(unwrap_named_inputs([instance], self.model.input), self.model.input.shape)[0]
        except ApiError as exc:
            return self.fail(instance, exc.message)
        self.pending.append((instance, image))
        if len(self.pending) >= self.spec.batch_size:
            self.flush()
        return None

    def fail(self, instance: Any, message: str) -> None:
        self.errors.write(error_line(instance, message) + "\n")
        self.failed += 1

    def flush(self) -> None:
        if not self.pending:
            return
        images = np.stack([image for _, image in self.pending])
        predictions = self.model.run(images)  # the serving path's call (model_server.signature_caller)
        for (instance, _), prediction in zip(self.pending, predictions, strict=True):
            self.results.write(json.dumps({"instance": instance, "prediction": prediction.tolist()}) + "\n")
        self.successful += len(self.pending)
        self.pending.clear()


def run(spec: Spec) -> dict[str, Any]:
    """Predict every line of every input; the counts and the inputs that could not be read."""
    model = load_saved_model(Path(spec.model_dir))
    unreadable: list[dict[str, Any]] = []
    with open(spec.results, "w") as results, open(spec.errors, "w") as errors:
        predictor = Predictor(model, spec, results, errors)
        for uri in spec.inputs:
            try:
                for line in lines_of(uri, spec.storage_url, spec.max_line_bytes):
                    predictor.add(line)
            except (urllib.error.URLError, OSError) as exc:
                unreadable.append({"code": RPC_CODES["NOT_FOUND"], "message": f"cannot read {uri}: {exc}"})
        predictor.flush()
    return {"successfulCount": predictor.successful, "failedCount": predictor.failed, "unreadable": unreadable}


def main(argv: list[str]) -> int:
    spec = Spec(**json.loads(argv[0]))
    stats = run(spec)
    Path(spec.stats).write_text(json.dumps(stats))
    print(f"batch prediction: {stats['successfulCount']} predicted, {stats['failedCount']} failed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
