"""The gate's verdict kept with the model it judged: gs://BUCKET/runs/<sha>/<time>/gate/ beside .../model/.

train.yml keeps it (scripts.keep_verdict) after the gate and before registering, so every version it registers
has one; release.yml reads it back (scripts.fetch_model --verdict-dest) and renders the Release's model card with
the comparison the gate made at training time. The folder holds gate.json and, when the gate compared the
candidate with production, gate_regressions.json and production_metrics.json: what `python -m scripts.report`
reads beside a gate.json.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud import storage

from scripts.core import cloud
from scripts.core.step import StepError

FOLDER = "gate"
VERDICT = "gate.json"
EVIDENCE = ("gate_regressions.json", "production_metrics.json")  # the gate writes them when it compared two models


def verdict_dir(model_dir: str) -> str:
    """Where a model dir's verdict is kept: its sibling folder `gate` (gs:// or a local path)."""
    parent, _, name = model_dir.rstrip("/").rpartition("/")
    if not parent or not name or parent == "gs:/":
        raise StepError(f"{model_dir!r} has no parent folder to keep the gate's verdict in")
    return f"{parent}/{FOLDER}"


def checked_verdict(data: Any, model_dir: str, where: str) -> dict[str, Any]:
    """A gate.json that judged this model dir; another model's verdict must never be shown as this one's."""
    candidate = data.get("candidate") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("passed"), bool) or not isinstance(candidate, dict):
        raise StepError(f"{where} is not the gate's verdict (no passed and candidate)")
    judged = str(candidate.get("model_dir", "")).rstrip("/")
    if judged != model_dir.rstrip("/"):
        raise StepError(f"{where} judged {judged[:200]!r}, not {model_dir}")
    return data


def read_local(out_dir: Path, model_dir: str) -> dict[str, Any]:
    """The gate's out/gate.json, checked to be about `model_dir`."""
    local = out_dir / VERDICT
    try:
        return checked_verdict(json.loads(local.read_text(encoding="utf-8")), model_dir, str(local))
    except FileNotFoundError:
        raise StepError(f"no {local}: run the gate first") from None
    except (OSError, ValueError) as exc:
        raise StepError(f"{local} cannot be read ({exc})") from None


def save(out_dir: Path, model_dir: str, client: storage.Client) -> list[str]:
    """Upload out/gate.json and its evidence beside the model; gate.json last, so whoever sees it sees the rest."""
    read_local(out_dir, model_dir)
    bucket_name, prefix = cloud.split_gs_uri(verdict_dir(model_dir))
    bucket = client.bucket(bucket_name)
    delete(bucket.blob(f"{prefix}/{VERDICT}"))  # an earlier verdict never reads as this run's evidence's
    kept = []
    for name in (*EVIDENCE, VERDICT):
        blob = bucket.blob(f"{prefix}/{name}")
        if (out_dir / name).is_file():
            blob.upload_from_filename(str(out_dir / name), content_type="application/json")
            kept.append(f"gs://{bucket_name}/{blob.name}")
        else:  # one gate run's files, never mixed with an earlier run's
            delete(blob)
    return kept


def delete(blob: storage.Blob) -> None:
    with contextlib.suppress(google_exceptions.NotFound):
        blob.delete()


def load(model_dir: str, dest: Path, client: storage.Client) -> list[Path]:
    """The verdict kept beside `model_dir`, copied into `dest`; none kept, or another model's: StepError."""
    source = verdict_dir(model_dir)
    if not source.startswith("gs://"):
        raise StepError(f"{model_dir} is not in a bucket: the gate's verdict is kept only beside gs:// model dirs")
    copied = cloud.download_dir(source, dest, client)
    if not (dest / VERDICT).is_file():
        raise StepError(f"no gate verdict kept beside {model_dir} (in {source}/): was it registered by train.yml?")
    try:
        data = json.loads((dest / VERDICT).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StepError(f"{source}/{VERDICT} cannot be read ({exc})") from None
    checked_verdict(data, model_dir, f"{source}/{VERDICT}")
    return copied
