"""Load pipeline.toml: defaults -> profile -> PIPELINE_<TABLE>_<KEY> environment variables.

Its own top-level module: the trainer, the pipeline steps and vertex-local all import it, and the trainer
image copies it beside trainer/. Unknown keys, wrong types and numbers that are not finite (nan, inf) fail
loudly with the dotted key and the bad value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG_PATH = Path(__file__).resolve().parent / "pipeline.toml"
DEFAULT_PROFILE = "local"


class ConfigError(ValueError):
    """A config file, profile or override that cannot be used."""


@dataclasses.dataclass(frozen=True)
class Training:
    dataset: str
    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


@dataclasses.dataclass(frozen=True)
class Vertex:
    project: str
    region: str
    staging_bucket: str
    api_endpoint: str
    storage_emulator_host: str
    credentials: str
    token_env: str
    artifact_registry: str
    trainer_image: str
    model_display_name: str
    endpoint_display_name: str
    training_machine_type: str
    training_replica_count: int
    accelerator_type: str
    accelerator_count: int
    deploy_machine_type: str
    deploy_min_replicas: int
    deploy_max_replicas: int
    serving_image: str
    job_poll_seconds: float

    @property
    def image_repository(self) -> str:
        """The trainer image without its tag, in Artifact Registry."""
        host = f"{self.region}-docker.pkg.dev"
        return f"{host}/{self.project}/{self.artifact_registry}/{self.trainer_image}"


@dataclasses.dataclass(frozen=True)
class Gate:
    min_accuracy: float
    max_drop: float
    alpha: float
    max_latency_ratio: float


@dataclasses.dataclass(frozen=True)
class Deploy:
    canary_percent: int


@dataclasses.dataclass(frozen=True)
class Smoke:
    count: int
    min_accuracy: float
    p95_latency_ms: float


@dataclasses.dataclass(frozen=True)
class Serving:
    max_body_bytes: int
    max_instances: int
    max_batch_size: int
    batch_timeout_ms: float
    inline_max_images: int
    max_queue: int
    head_timeout_s: float
    body_timeout_s: float
    upload_body_timeout_s: float
    max_connections: int
    linger_timeout_s: float
    linger_max_bytes: int
    keep_alive_timeout_s: float
    max_head_bytes: int
    max_log_read_bytes: int


@dataclasses.dataclass(frozen=True)
class Config:
    profile: str
    training: Training
    vertex: Vertex
    gate: Gate
    deploy: Deploy
    smoke: Smoke
    serving: Serving

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS: dict[str, type] = {
    "training": Training,
    "vertex": Vertex,
    "gate": Gate,
    "deploy": Deploy,
    "smoke": Smoke,
    "serving": Serving,
}


def load_config(
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path = CONFIG_PATH,
) -> Config:
    """Resolve the config for one profile; `environ` defaults to the process environment."""
    environ = os.environ if environ is None else environ
    profile = profile or environ.get("PIPELINE_PROFILE") or DEFAULT_PROFILE
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    profiles = raw.pop("profiles", {})
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:  # a misspelt [table] would otherwise leave its values silently unused
        raise ConfigError(f"{unknown[0]}: unknown table")
    if profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r} (have: {', '.join(sorted(profiles))})")
    merged = {name: dict(raw.get(name, {})) for name in SECTIONS}
    _overlay(merged, profiles[profile], f"profiles.{profile}")
    _overlay_environ(merged, environ)
    return Config(profile=profile, **{name: _build(cls, name, merged[name]) for name, cls in SECTIONS.items()})


def _overlay(merged: dict[str, dict[str, Any]], overrides: dict[str, Any], where: str) -> None:
    for section, values in overrides.items():
        if section not in merged or not isinstance(values, dict):
            raise ConfigError(f"{where}.{section}: unknown table")
        merged[section].update(values)


def _overlay_environ(merged: dict[str, dict[str, Any]], environ: Mapping[str, str]) -> None:
    for section, values in merged.items():
        for field in dataclasses.fields(SECTIONS[section]):
            name = f"PIPELINE_{section}_{field.name}".upper()
            if name in environ:  # parsed as the field's type, whatever the file happened to spell
                values[field.name] = _parse_env(environ[name], _python_type(field.type), name)


def _parse_env(text: str, kind: type, name: str) -> Any:
    try:
        return kind(text) if kind is not bool else text.lower() in ("1", "true", "yes")
    except ValueError as exc:
        raise ConfigError(f"{name}={text!r}: expected {kind.__name__}") from exc


def _build(cls: type, section: str, values: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{section}.{unknown[0]}: unknown key")
    missing = sorted(set(fields) - set(values))
    if missing:
        raise ConfigError(f"{section}.{missing[0]}: missing")
    for key, value in values.items():
        expected = _python_type(fields[key].type)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{section}.{key} = {value!r}: expected {expected.__name__}")
        elif expected is float and not math.isfinite(value):
            # TOML spells nan and inf, float() parses them: a threshold of nan compares false with everything.
            raise ConfigError(f"{section}.{key} = {value!r}: expected a finite number")
    return cls(**values)


def _python_type(annotation: str | type) -> type:
    return {"str": str, "int": int, "float": float, "bool": bool}.get(str(annotation), annotation)  # type: ignore[arg-type]
