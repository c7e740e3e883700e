"""pipeline_config.py: every way a config file, profile or PIPELINE_* variable is refused, as tables.

Each file case is the real pipeline.toml, read, changed in one place and written to tmp_path; each message
names the dotted key (or the variable) and the value.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline_config import CONFIG_PATH, SECTIONS, ConfigError, load_config

REAL = tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))
FLOAT_KEYS = [
    f"{section}.{field.name}" for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)
    if field.type == "float"
]  # fmt: skip
NOT_FINITE = [math.nan, math.inf, -math.inf]


def message_pattern(message: str) -> str:
    return re.escape(message)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")  # TOML's own spellings
    return json.dumps(value)  # strings and numbers: JSON's spelling is TOML's too


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A config dict (tables of scalars, nested tables for profiles) as TOML."""
    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{key} = {toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(to_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines) + "\n"


def changed(path: list[str], value: Any = None, delete: bool = False) -> dict[str, Any]:
    """The real config with one value set (or deleted) at path."""
    data = copy.deepcopy(REAL)
    table = data
    for key in path[:-1]:
        table = table.setdefault(key, {})
    if delete:
        del table[path[-1]]
    else:
        table[path[-1]] = value
    return data


def load_file(tmp_path: Path, data: dict[str, Any], environ: dict[str, str] | None = None, profile: str = "local"):
    path = tmp_path / "pipeline.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return load_config(profile, environ or {}, path)


def test_the_real_file_written_back_loads_the_same(tmp_path: Path) -> None:
    for profile in ("local", "gcp"):
        assert load_file(tmp_path, REAL, profile=profile) == load_config(profile, {})


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["gate", "min_acuracy"], 0.9, "gate.min_acuracy: unknown key"),
        (["profiles", "local", "gate", "maxdrop"], 0.01, "gate.maxdrop: unknown key"),
        (["trainng"], {"epochs": 3}, "trainng: unknown table"),
        (["profiles", "local", "trainng"], {"epochs": 3}, "profiles.local.trainng: unknown table"),
        (["training", "epochs"], "20", "training.epochs = '20': expected int"),
        (["training", "epochs"], True, "training.epochs = True: expected int"),
        (["training", "epochs"], 2.5, "training.epochs = 2.5: expected int"),
        (["vertex", "project"], 7, "vertex.project = 7: expected str"),
        (["profiles", "local", "smoke", "count"], "many", "smoke.count = 'many': expected int"),
        (["gate", "max_drop"], "0.005", "gate.max_drop = '0.005': expected float"),
        # Checked although the chosen profile (local) overrides it, or only another profile (gcp) uses it.
        (["profiles", "local", "training", "epochs"], "12", "training.epochs = '12': expected int"),
        (["profiles", "gcp", "gate", "min_accuracy"], "high", "gate.min_accuracy = 'high': expected float"),
        (["profiles", "gcp", "gate", "max_drop"], float("nan"), "gate.max_drop = nan: expected a finite number"),
        (["profiles", "gcp", "trainng"], {"epochs": 3}, "profiles.gcp.trainng: unknown table"),
    ],
)
def test_a_file_with_an_unknown_or_mistyped_value_is_refused_naming_it(
    tmp_path: Path, path: list[str], value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{message_pattern(message)}$"):
        load_file(tmp_path, changed(path, value))


@pytest.mark.parametrize("path", [["gate", "max_drop"], ["training", "seed"], ["vertex", "serving_image"]])
def test_a_file_missing_a_key_is_refused_naming_it(tmp_path: Path, path: list[str]) -> None:
    with pytest.raises(ConfigError, match=f"^{'.'.join(path)}: missing$"):
        load_file(tmp_path, changed(path, delete=True))


@pytest.mark.parametrize("value", NOT_FINITE, ids=str)
@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("where", ["table", "profile"])
def test_a_file_with_nan_or_inf_for_a_number_is_refused(tmp_path: Path, where: str, key: str, value: float) -> None:
    # In its table (under the gcp profile, which overrides no number) or in the local profile's overrides.
    path, profile = (key.split("."), "gcp") if where == "table" else (["profiles", "local", *key.split(".")], "local")
    with pytest.raises(ConfigError, match=f"^{message_pattern(f'{key} = {value!r}: expected a finite number')}$"):
        load_file(tmp_path, changed(path, value), profile=profile)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_a_variable_with_nan_or_inf_for_a_number_is_refused(key: str, text: str) -> None:
    variable = "PIPELINE_" + key.replace(".", "_").upper()
    shown = repr(float(text))
    with pytest.raises(ConfigError, match=f"^{message_pattern(f'{key} = {shown}: expected a finite number')}$"):
        load_config("local", {variable: text})


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("PIPELINE_TRAINING_EPOCHS", "ten", "PIPELINE_TRAINING_EPOCHS='ten': expected int"),
        ("PIPELINE_TRAINING_EPOCHS", "2.5", "PIPELINE_TRAINING_EPOCHS='2.5': expected int"),
        ("PIPELINE_GATE_MIN_ACCURACY", "high", "PIPELINE_GATE_MIN_ACCURACY='high': expected float"),
        ("PIPELINE_SMOKE_P95_LATENCY_MS", "", "PIPELINE_SMOKE_P95_LATENCY_MS='': expected float"),
    ],
)
def test_a_variable_of_the_wrong_type_is_refused_naming_it(variable: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message_pattern(message)}$"):
        load_config("local", {variable: text})


def test_a_variable_is_parsed_as_the_fields_type_whatever_the_file_spelt(tmp_path: Path) -> None:
    """A float written as 500 in the file still takes 499.5 from the environment."""
    config = load_file(tmp_path, changed(["smoke", "p95_latency_ms"], 500), {"PIPELINE_SMOKE_P95_LATENCY_MS": "499.5"})
    assert config.smoke.p95_latency_ms == 499.5
    assert load_file(tmp_path, changed(["smoke", "p95_latency_ms"], 500)).smoke.p95_latency_ms == 500.0


def test_an_unknown_profile_names_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match=r"^unknown profile 'nope' \(have: gcp, local\)$"):
        load_config("nope", {})


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pipeline.toml").write_text("[gate\nmin_accuracy = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("local", {}, tmp_path / "pipeline.toml")


def test_every_float_key_is_covered() -> None:
    """The not-finite tables above run over this list: it must hold the thresholds that gate a release."""
    assert {"gate.min_accuracy", "gate.max_drop", "smoke.min_accuracy", "smoke.p95_latency_ms"} <= set(FLOAT_KEYS)


# One value just outside each numeric key's range (and one far outside for the accuracies, which a sign slip
# or a percentage would give); every numeric key must have a range.
OUT_OF_RANGE = {
    "training.epochs": [0], "training.batch_size": [0], "training.learning_rate": [0.0, -0.001],
    "training.seed": [-1, 2**32],
    "vertex.training_replica_count": [0], "vertex.accelerator_count": [-1], "vertex.deploy_min_replicas": [0],
    "vertex.deploy_max_replicas": [0], "vertex.job_poll_seconds": [0.0],
    "gate.min_accuracy": [-1.0, 1.5, 97.0], "gate.max_drop": [-0.001, 1.01], "gate.alpha": [0.0, 1.0],
    "gate.max_latency_ratio": [-1.0], "deploy.canary_percent": [0, 101], "smoke.count": [0],
    "smoke.min_accuracy": [-1.0, 1.5, 90.0], "smoke.p95_latency_ms": [0.0, -500.0],
    "release.max_archive_bytes": [0], "release.max_unpacked_bytes": [-1], "release.max_files": [0],
    **{f"serving.{key}": [0] for key in ("max_body_bytes", "max_instances", "max_batch_size", "max_queue",
                                         "max_connections", "max_head_bytes", "max_log_read_bytes",
                                         "max_job_read_bytes")},
    **{f"serving.{key}": [0.0] for key in ("head_timeout_s", "body_timeout_s", "upload_body_timeout_s",
                                           "keep_alive_timeout_s")},
    **{f"serving.{key}": [-1] for key in ("inline_max_images", "linger_max_bytes")},
    **{f"serving.{key}": [-1.0] for key in ("batch_timeout_ms", "linger_timeout_s")},
}  # fmt: skip
RANGE_CASES = [(key, value) for key, values in OUT_OF_RANGE.items() for value in values]


def expected_range_message(key: str, value: float) -> str:
    return f"^{message_pattern(f'{key} = {value!r}: expected ')}"


@pytest.mark.parametrize(("key", "value"), RANGE_CASES)
@pytest.mark.parametrize("where", ["table", "profile"])
def test_a_file_with_a_number_out_of_its_range_is_refused_naming_it(
    tmp_path: Path, where: str, key: str, value: float
) -> None:
    path, profile = (key.split("."), "gcp") if where == "table" else (["profiles", "local", *key.split(".")], "local")
    with pytest.raises(ConfigError, match=expected_range_message(key, value)):
        load_file(tmp_path, changed(path, value), profile=profile)


@pytest.mark.parametrize(("key", "value"), RANGE_CASES)
def test_a_variable_with_a_number_out_of_its_range_is_refused_naming_it(key: str, value: float) -> None:
    variable = "PIPELINE_" + key.replace(".", "_").upper()
    with pytest.raises(ConfigError, match=expected_range_message(key, value)):
        load_config("local", {variable: str(value)})


def test_every_numeric_key_has_a_range_and_a_case_outside_it() -> None:
    numeric = {
        f"{section}.{field.name}" for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)
        if field.type in ("int", "float")
    }  # fmt: skip
    assert numeric == set(OUT_OF_RANGE)


EDGES = [("gate.min_accuracy", 0.0), ("gate.min_accuracy", 1.0), ("smoke.min_accuracy", 0.0),
         ("deploy.canary_percent", 100), ("gate.max_latency_ratio", 0.0), ("vertex.accelerator_count", 0)]  # fmt: skip


@pytest.mark.parametrize(("key", "edge"), EDGES)
def test_a_number_at_the_edge_of_its_range_is_taken(tmp_path: Path, key: str, edge: float) -> None:
    section, name = key.split(".")
    assert getattr(getattr(load_file(tmp_path, changed([section, name], edge), profile="gcp"), section), name) == edge
