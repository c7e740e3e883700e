"""Load pipeline.toml: defaults -> profile -> PIPELINE_<TABLE>_<KEY> environment variables.

Its own top-level module: the trainer, the pipeline steps and vertex-local all import it, and the trainer
image copies it beside trainer/. Unknown keys, wrong types, numbers that are not finite (nan, inf) and numbers
outside their key's range (RANGES) fail loudly with the dotted key and the bad value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONFIG_PATH = Path(__file__).resolve().parent / "pipeline.toml"
DEFAULT_PROFILE = "local"


class ConfigError(ValueError):
    """A config file, profile or override that cannot be used."""


def _between(low: float, high: float) -> Callable[[float], bool]:
    return lambda value: low <= value <= high


def _at_least(low: float) -> Callable[[float], bool]:
    return lambda value: value >= low


def _positive(value: float) -> bool:
    return value > 0


# Every number's range, checked in every layer (file, profile, PIPELINE_*) as it is read: a value out of range
# would switch a check off (a smoke min_accuracy of -1 passes any model) or make a step fail far from its cause.
# Each test is false for nan, so nan never passes (finiteness is checked before, too).
RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "training.epochs": (_at_least(1), ">= 1"),
    "training.batch_size": (_at_least(1), ">= 1"),
    "training.learning_rate": (_positive, "> 0"),
    "training.seed": (_between(0, 2**32 - 1), "0 to 2**32 - 1 (what NumPy's generators take)"),
    "vertex.training_replica_count": (_at_least(1), ">= 1"),
    "vertex.accelerator_count": (_at_least(0), ">= 0"),
    "vertex.deploy_min_replicas": (_at_least(1), ">= 1"),
    "vertex.deploy_max_replicas": (_at_least(1), ">= 1"),
    "vertex.job_poll_seconds": (_positive, "> 0"),
    "gate.min_accuracy": (_between(0, 1), "0-1"),
    "gate.max_drop": (_between(0, 1), "0-1"),
    "gate.alpha": (lambda value: 0 < value < 1, "0 < alpha < 1"),
    "gate.max_latency_ratio": (_at_least(0), ">= 0 (0 = off)"),
    "deploy.canary_percent": (_between(1, 100), "1-100"),
    "smoke.count": (_at_least(1), ">= 1"),
    "smoke.min_accuracy": (_between(0, 1), "0-1"),
    "smoke.p95_latency_ms": (_positive, "> 0"),
    **{f"release.{key}": (_positive, "a positive number") for key in ("max_archive_bytes", "max_unpacked_bytes",
                                                                      "max_files")},
    **{f"serving.{key}": (_positive, "> 0") for key in (
        "max_body_bytes", "max_instances", "max_batch_size", "max_queue", "head_timeout_s", "body_timeout_s",
        "upload_body_timeout_s", "max_connections", "keep_alive_timeout_s", "max_head_bytes", "max_log_read_bytes",
        "max_job_read_bytes")},
    **{f"serving.{key}": (_at_least(0), ">= 0") for key in ("batch_timeout_ms", "inline_max_images",
                                                            "linger_timeout_s", "linger_max_bytes")},
}  # fmt: skip


def range_problem(key: str, value: float) -> str | None:
    """What is wrong with `value` for the dotted `key`, or None when it is in range (or the key has none)."""
    if key not in RANGES:
        return None
    holds, expected = RANGES[key]
    return None if holds(value) else f"{key} = {value!r}: expected {expected}"


@dataclasses.dataclass(frozen=True)
class TaskChoice:
    name: str  # a key of tasks.REGISTRY


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

    @property
    def serving_image_is_ours(self) -> bool:
        """serving_image names this repository's serving image (a name), not a full URI (Google's prebuilt)."""
        return "/" not in self.serving_image

    def serving_image_uri(self, tag: str) -> str:
        """The image a Model version serves with: ours in Artifact Registry beside the trainer, tagged as it is
        (the git SHA), or the full URI serving_image gives (a prebuilt image, used as it is)."""
        if not self.serving_image_is_ours:
            return self.serving_image
        host = f"{self.region}-docker.pkg.dev"
        return f"{host}/{self.project}/{self.artifact_registry}/{self.serving_image}:{tag}"


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
class Release:
    max_archive_bytes: int
    max_unpacked_bytes: int
    max_files: int


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
    max_job_read_bytes: int


@dataclasses.dataclass(frozen=True)
class Config:
    profile: str
    task: TaskChoice
    training: Training
    vertex: Vertex
    gate: Gate
    deploy: Deploy
    smoke: Smoke
    release: Release
    serving: Serving

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS: dict[str, type] = {
    "task": TaskChoice,
    "training": Training,
    "vertex": Vertex,
    "gate": Gate,
    "deploy": Deploy,
    "smoke": Smoke,
    "release": Release,
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
    # Every value in the file is checked, including those the chosen profile overrides and other profiles' own:
    # a mistake must not wait for the day someone picks the profile, or drops the override, to show up.
    merged = {name: _checked(name, raw.get(name, {})) for name in SECTIONS}
    overlays = {name: _profile_tables(name, tables) for name, tables in profiles.items()}
    for section, values in overlays[profile].items():
        merged[section].update(values)
    _overlay_environ(merged, environ)
    config = Config(profile=profile, **{name: _build(cls, name, merged[name]) for name, cls in SECTIONS.items()})
    _check_task_name(config.task.name)
    return config


def _check_task_name(name: str) -> None:
    from tasks import REGISTRY  # the names only: a task's module is imported when a step asks for it

    if name not in REGISTRY:
        raise ConfigError(f"task.name = {name!r}: unknown task (tasks: {', '.join(sorted(REGISTRY))})")


def chosen_training_keys(environ: Mapping[str, str]) -> set[str]:
    """The [training] keys a PIPELINE_TRAINING_* variable sets: they win over a task model's own defaults."""
    return {
        field.name for field in dataclasses.fields(Training) if f"PIPELINE_TRAINING_{field.name}".upper() in environ
    }


def load_task_of(config: Config) -> Any:
    """The tasks.Task that config.task names; an incomplete task module: ConfigError naming the missing piece."""
    from tasks import TaskError, load_task

    try:
        return load_task(config.task.name)
    except TaskError as exc:
        raise ConfigError(f"task.name = {config.task.name!r}: {exc}") from None


def _profile_tables(profile: str, tables: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(tables, dict):
        raise ConfigError(f"profiles.{profile}: expected a table")
    for section, values in tables.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"profiles.{profile}.{section}: unknown table")
    return {section: _checked(section, values) for section, values in tables.items()}


def _overlay_environ(merged: dict[str, dict[str, Any]], environ: Mapping[str, str]) -> None:
    for section, values in merged.items():
        for field in dataclasses.fields(SECTIONS[section]):
            name = f"PIPELINE_{section}_{field.name}".upper()
            if name in environ:  # parsed as the field's type, whatever the file happened to spell
                parsed = _parse_env(environ[name], _python_type(field.type), name)
                values.update(_checked(section, {field.name: parsed}))  # float() parses nan and inf too


def _parse_env(text: str, kind: type, name: str) -> Any:
    try:
        return kind(text) if kind is not bool else text.lower() in ("1", "true", "yes")
    except ValueError as exc:
        raise ConfigError(f"{name}={text!r}: expected {kind.__name__}") from exc


def _checked(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values of one table (or a profile's part of it), every key known and every value of its field's type."""
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{section}.{unknown[0]}: unknown key")
    checked = {}
    for key, value in values.items():
        expected = _python_type(fields[key].type)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{section}.{key} = {value!r}: expected {expected.__name__}")
        if expected is float and not math.isfinite(value):
            # TOML spells nan and inf, float() parses them: a threshold of nan compares false with everything.
            raise ConfigError(f"{section}.{key} = {value!r}: expected a finite number")
        if expected in (int, float) and (problem := range_problem(f"{section}.{key}", value)) is not None:
            raise ConfigError(problem)
        checked[key] = value
    return checked


def _build(cls: type, section: str, values: dict[str, Any]) -> Any:
    missing = sorted({f.name for f in dataclasses.fields(cls)} - set(values))
    if missing:
        raise ConfigError(f"{section}.{missing[0]}: missing")
    return cls(**values)  # every layer's values were checked as they were read


def _python_type(annotation: str | type) -> type:
    return {"str": str, "int": int, "float": float, "bool": bool}.get(str(annotation), annotation)  # type: ignore[arg-type]
