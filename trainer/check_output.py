"""Check what a training run left at a gs:// model dir, through the storage API: python -m trainer.check_output URI

`make trainer-image-check` runs it after training in the real trainer image: `ready URI` first (creates the
bucket when missing, as vertex-local starts with none, and makes sure nothing is there yet), then `verify URI`
(a SavedModel and a metrics.json with a sane accuracy). Exit 0 when the check holds, 1 with one line otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from trainer.storage import StorageError, list_names, read_bytes, split_gcs_uri

REQUIRED = ("saved_model.pb", "variables/variables.index", "metrics.json")


class CheckFailed(Exception):
    """What the model dir lacks."""


def ready(uri: str) -> str:
    """Create the bucket if it is missing; the model dir must hold nothing yet, so a stale model cannot pass."""
    from google.cloud import storage

    bucket, _ = split_gcs_uri(uri)
    client = storage.Client(project=None)
    if not client.bucket(bucket).exists():
        client.create_bucket(bucket)
    if found := list_names(uri):
        raise CheckFailed(f"{uri} already holds {len(found)} object(s); use a new model dir")
    return f"{uri} is empty; bucket gs://{bucket} exists"


def verify(uri: str) -> str:
    """The objects a finished run writes, and metrics.json's accuracy in (0, 1]."""
    found = list_names(uri)
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise CheckFailed(f"{uri} lacks {', '.join(missing)} (holds: {', '.join(sorted(found)) or 'nothing'})")
    metrics_uri = uri.rstrip("/") + "/metrics.json"
    metrics = json.loads(read_bytes(metrics_uri))
    accuracy = metrics.get("accuracy")
    if not isinstance(accuracy, float) or not 0.0 < accuracy <= 1.0:
        raise CheckFailed(f"{metrics_uri}: accuracy {accuracy!r} is not in (0, 1]")
    total = sum(found.values())
    return f"{uri}: {len(found)} objects, {total} bytes; {metrics.get('model')} accuracy {accuracy:.4f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.check_output", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("ready", "verify"))
    parser.add_argument("uri", help="gs://BUCKET/PATH/model/")
    args = parser.parse_args(argv)
    try:
        print(f"check_output: {(ready if args.step == 'ready' else verify)(args.uri)}")
    except (CheckFailed, StorageError, ValueError) as exc:
        print(f"check_output: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
