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
