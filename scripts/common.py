"""What every pipeline step shares: config, the single aiplatform.init, the step error and its exit codes.

Not run by itself; each step is `python -m scripts.<step>` and calls these from its main().
Exit codes: 0 success, 1 a known failure (one stderr line `<step>: <reason>`), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage

from pipeline_config import Config, ConfigError, load_config

CREDENTIAL_KINDS = ("default", "anonymous")


class StepError(Exception):
    """A known failure of a step: shown as one stderr line `<step>: <reason>`, exit status 1."""


def add_common_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--profile", help="pipeline.toml profile (default: $PIPELINE_PROFILE, else local)")
    parser.add_argument("--out-dir", default="out", help="where <step>.json is written (default: out)")
    return parser


def run_main(
    step: str,
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """Parse argv and run body, turning known failures into one stderr line and an exit status.

    argparse's own exits (usage errors: 2, --help: 0) are returned, not raised, so that
    `python -m scripts.demo` can call every step's main() in-process.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return body(args)
    except StepError as exc:
        return fail(step, str(exc), 1)
    except google_exceptions.GoogleAPIError as exc:
        # The service refused or failed a call (permissions, quota, a bad name, retries exhausted).
        return fail(step, f"Google API: {exc}", 1)
    except requests.exceptions.ConnectionError as exc:
        return fail(step, f"cannot reach the service ({exc}); for vertex-local, is it running?", 1)
    except ConfigError as exc:
        return fail(step, f"config: {exc}", 2)


def fail(step: str, reason: str, status: int) -> int:
    """The one stderr line a failed step leaves."""
    print(f"{step}: {' '.join(reason.split())}", file=sys.stderr, flush=True)
    return status


def load_step_config(profile: str | None, environ: MutableMapping[str, str]) -> Config:
    """The resolved config for a step; checks the values this module interprets itself."""
    cfg = load_config(profile, environ)
    if cfg.vertex.credentials not in CREDENTIAL_KINDS:
        raise ConfigError(f"vertex.credentials = {cfg.vertex.credentials!r}: expected one of {CREDENTIAL_KINDS}")
    if not cfg.vertex.staging_bucket.startswith("gs://"):
        raise ConfigError(f"vertex.staging_bucket = {cfg.vertex.staging_bucket!r}: expected gs://BUCKET")
    return cfg


def print_settings(step: str, cfg: Config, settings: dict[str, Any]) -> None:
    """One line with the profile and the resolved values this step uses."""
    shown = " ".join(f"{key}={value}" for key, value in settings.items())
    print(f"{step}: profile={cfg.profile} {shown}", flush=True)


def credentials(cfg: Config) -> Credentials | None:
    """None means Application Default Credentials (Workload Identity in CI)."""
    return AnonymousCredentials() if cfg.vertex.credentials == "anonymous" else None


def connect(cfg: Config, environ: MutableMapping[str, str]) -> None:
    """The single aiplatform.init, plus STORAGE_EMULATOR_HOST for google-cloud-storage.

    google-cloud-storage takes an emulator host only from the environment (it ignores aiplatform's
    api_endpoint), so this writes `environ`; steps call it from main() with os.environ.
    """
    from google.cloud import aiplatform  # deferred: importing the SDK takes a few seconds

    vertex = cfg.vertex
    options: dict[str, Any] = {}
    if vertex.api_endpoint:
        options.update(api_endpoint=vertex.api_endpoint, api_transport="rest")
    if vertex.storage_emulator_host:
        environ["STORAGE_EMULATOR_HOST"] = vertex.storage_emulator_host
    aiplatform.init(
        project=vertex.project,
        location=vertex.region,
        staging_bucket=vertex.staging_bucket,
        credentials=credentials(cfg),
        **options,
    )


def resolve_git_sha(flag: str | None, environ: MutableMapping[str, str]) -> str:
    """--git-sha, else $GITHUB_SHA (set in GitHub Actions); a step that needs one fails without it."""
    sha = flag or environ.get("GITHUB_SHA")
    if not sha:
        raise ConfigError("no git SHA: pass --git-sha (GitHub Actions sets $GITHUB_SHA)")
    return sha.strip().lower()


def short_sha(sha: str) -> str:
    """12 characters of a 40-hex git SHA; other identifiers (demo runs) are kept whole."""
    is_full_sha = len(sha) == 40 and all(c in "0123456789abcdef" for c in sha)
    return sha[:12] if is_full_sha else sha


def label_value(value: str) -> str:
    """A valid Vertex label value: lowercase letters, digits, `-` and `_`, at most 63 characters."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in value.lower())
    return cleaned[:63]


def job_labels(git_sha: str | None, pr: str | None, run_id: str | None) -> dict[str, str]:
    """Labels for the values that are known; empty ones are left out."""
    known = {"git_sha": git_sha, "pr": pr, "run_id": run_id}
    return {key: label_value(value) for key, value in known.items() if value}


def trained_model_dir(flag: str | None, out_dir: str) -> str:
    """--model-dir, else the model_dir that submit_training left in out/submit_training.json."""
    if flag:
        return flag.rstrip("/")
    previous = Path(out_dir) / "submit_training.json"
    try:
        return str(json.loads(previous.read_text(encoding="utf-8"))["model_dir"]).rstrip("/")
    except FileNotFoundError:
        raise ConfigError(f"pass --model-dir (there is no {previous} from a submit_training run)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"pass --model-dir ({previous} holds no model_dir: {exc!r})") from None


def write_out(out_dir: str, name: str, data: Any) -> Path:
    """out/<name>.json: a step's machine-readable result (<step>.json) or a file it saves for later steps."""
    path = Path(out_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def publish(github_output: str | None, step_summary: str | None, outputs: dict[str, Any], markdown: str) -> None:
    """Append key=value lines to $GITHUB_OUTPUT and Markdown to $GITHUB_STEP_SUMMARY, when GitHub set them."""
    if github_output:
        with open(github_output, "a", encoding="utf-8") as handle:
            for key, value in outputs.items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if "\n" in text:
                    raise StepError(f"output {key} holds a newline; $GITHUB_OUTPUT takes one line per key")
                handle.write(f"{key}={text}\n")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n\n")


def storage_client(cfg: Config) -> storage.Client:
    """google-cloud-storage, pointed at vertex-local by STORAGE_EMULATOR_HOST (see connect)."""
    return storage.Client(project=cfg.vertex.project, credentials=credentials(cfg))


def split_gs_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/path/to/object -> ("bucket", "path/to/object")."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket or not name:
        raise StepError(f"{uri!r} is not a gs://BUCKET/OBJECT URI")
    return bucket, name


def read_json(uri: str, client: storage.Client) -> Any:
    """A JSON document from gs:// (through `client`) or a local path; missing or corrupt: StepError."""
    try:
        if uri.startswith("gs://"):
            bucket, name = split_gs_uri(uri)
            data = client.bucket(bucket).blob(name).download_as_bytes()
        else:
            data = Path(uri).read_bytes()
        return json.loads(data)
    except (google_exceptions.NotFound, FileNotFoundError):
        raise StepError(f"{uri} not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StepError(f"{uri} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise StepError(f"{uri} cannot be read ({exc})") from None


def write_text(uri: str, text: str, client: storage.Client) -> None:
    """Write one gs:// object (used to stage files for the service)."""
    bucket, name = split_gs_uri(uri)
    client.bucket(bucket).blob(name).upload_from_string(text, content_type="application/json")
