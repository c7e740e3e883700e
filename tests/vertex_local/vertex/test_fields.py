"""List filters in Google's syntax, as the SDK sends them (`labels.k="v" AND display_name="m"`)."""

from __future__ import annotations

import pytest

from vertex_local.errors import ApiError
from vertex_local.vertex.fields import display_name_field, labels_field, resource_id, snake_to_camel
from vertex_local.vertex.filters import compile_filter

MODEL = {"displayName": "mnist", "versionId": "2", "labels": {"git-sha": "abc123", "stage": "prod"}}
FIELDS = {"displayName", "versionId"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ('display_name="mnist"', True),
        ('displayName="mnist"', True),
        ('display_name="other"', False),
        ('labels.git-sha="abc123" AND display_name="mnist"', True),
        ('labels.git-sha="abc123" and display_name="other"', False),
        ('labels.stage="prod"', True),
        ('labels.stage!="prod"', False),
        ('labels.missing!="x"', True),
        ("labels.stage:*", True),
        ("labels.missing:*", False),
        ("labels:stage", True),
        ('labels."stage"="prod"', True),
        ("versionId=2", True),
        ('display_name = "mnist"', True),
    ],
)
def test_filter_terms_match_like_vertex(text: str, matches: bool) -> None:
    assert compile_filter(text, FIELDS)(MODEL) is matches


@pytest.mark.parametrize(
    "text",
    [
        'display_name="mnist" OR labels.a="b"',
        'create_time>"2020"',
        'artifact_uri="gs://x"',
        'display_name="open',
    ],
)
def test_filters_we_cannot_honour_are_bad_requests_not_ignored(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        compile_filter(text, FIELDS)
    assert caught.value.code == 400 and "filter" in caught.value.message


def test_resource_names_must_belong_to_the_requests_project_and_location() -> None:
    parent = "projects/p/locations/us-central1"
    assert resource_id(f"{parent}/models/42@3", "models", parent) == "42@3"
    assert resource_id("42", "models", parent) == "42"
    with pytest.raises(ApiError):
        resource_id("projects/other/locations/us-central1/models/42", "models", parent)


def test_update_mask_paths_accept_snake_case() -> None:
    assert snake_to_camel("traffic_split") == "trafficSplit"
    assert snake_to_camel("labels") == "labels"


SIXTY_FOUR_LABELS = {f"k{i}": "v" for i in range(64)}


@pytest.mark.parametrize(
    "labels", [{}, {"git_sha": "3f2a9c1"}, {"run-id": ""}, {"équipe": "données"}, {"k": "v" * 64}, SIXTY_FOUR_LABELS]
)
def test_labels_in_googles_label_format_are_accepted(labels: dict) -> None:
    assert labels_field({"labels": labels}, "model") == labels


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({"Team": "ml"}, "key 'Team'"),
        ({"1team": "ml"}, "key '1team'"),
        ({"": "ml"}, "key ''"),
        ({"team": "ML"}, "labels['team']"),
        ({"team": "a.b"}, "labels['team']"),
        ({"k" * 65: "v"}, "key"),
        ({"k": "v" * 65}, "labels['k']"),
        ({f"k{i}": "v" for i in range(65)}, "65 labels"),
        ({"k": 1}, "string values"),
    ],
)
def test_labels_outside_googles_label_format_are_refused(labels: dict, problem: str) -> None:
    with pytest.raises(ApiError) as caught:
        labels_field({"labels": labels}, "model")
    assert caught.value.code == 400 and problem in caught.value.message


def test_display_names_are_at_most_128_characters_of_any_kind() -> None:
    assert display_name_field({"displayName": "é" * 128}, "model") == "é" * 128
    with pytest.raises(ApiError, match="129 characters"):
        display_name_field({"displayName": "m" * 129}, "model")
