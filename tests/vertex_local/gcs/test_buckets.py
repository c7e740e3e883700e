"""Buckets on a real vertex-local through google-cloud-storage: create, get, list, patch, delete, versioning.

These hold on Cloud Storage too, but they create buckets, which the contract suite's cloud plan does not (it
works inside one bucket), so they live here.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_buckets.py
"""

from __future__ import annotations

import uuid

import pytest
from google.api_core import exceptions
from google.cloud import storage

from tests.support.vertex_local_server import VertexLocal


@pytest.fixture(scope="module")
def client(vertex_local: VertexLocal) -> storage.Client:
    return vertex_local.storage_client()


def new_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    return client.create_bucket(new_name("test"))


def test_a_bucket_is_created_read_back_and_listed_with_a_real_looking_project_number(client) -> None:
    name = new_name("made")
    created = client.create_bucket(name, location="us-central1")
    fetched = client.get_bucket(name)
    assert (fetched.name, fetched.location, fetched.location_type) == (name, "US-CENTRAL1", "region")
    assert fetched.project_number == created.project_number
    assert len(str(fetched.project_number)) == 12 and int(fetched.project_number) > 0
    assert fetched.metageneration == 1 and fetched.storage_class == "STANDARD"
    assert name in [b.name for b in client.list_buckets()]
    assert name in [b.name for b in client.list_buckets(prefix="made-")]


def test_creating_an_existing_bucket_is_a_conflict(bucket: storage.Bucket, client) -> None:
    with pytest.raises(exceptions.Conflict, match="already exists"):
        client.create_bucket(bucket.name)


def test_a_missing_bucket_is_not_found(client) -> None:
    assert client.lookup_bucket("no-such-bucket") is None
    with pytest.raises(exceptions.NotFound):
        client.bucket("no-such-bucket").blob("x").upload_from_string(b"x")
    with pytest.raises(exceptions.NotFound):
        list(client.list_blobs("no-such-bucket"))


@pytest.mark.parametrize(
    "name",
    ["UPPER-case", "ab", "x" * 64, "192.168.5.4", "goog-bucket", "my-google-data", "my-g00gle-x",
     "dotted.name.example", "under score"],
)  # fmt: skip
def test_bucket_names_cloud_storage_refuses_are_a_bad_request(client, name: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="invalid bucket name"):
        client.create_bucket(name)


def test_a_label_patch_sets_and_removes_keys_and_raises_the_metageneration(client) -> None:
    bucket = client.bucket(new_name("labels"))
    bucket.labels = {"team": "ml", "env": "dev"}
    bucket.create()
    bucket.labels = {"env": "prod", "cost-center": "42"}  # the client sends "team": null to remove it
    bucket.patch(if_metageneration_match=1)
    fetched = client.get_bucket(bucket.name)
    assert fetched.labels == {"env": "prod", "cost-center": "42"}
    assert fetched.metageneration == 2
    with pytest.raises(exceptions.PreconditionFailed):
        fetched.patch(if_metageneration_match=1)
    fetched.labels = {}
    fetched.update()
    assert client.get_bucket(bucket.name).labels == {}


@pytest.mark.parametrize("labels", [{"Upper": "x"}, {"1digit": "x"}, {"ok": "UPPER"}, {"k": "v" * 64}])
def test_invalid_labels_are_a_bad_request(bucket: storage.Bucket, labels: dict) -> None:
    bucket.labels = labels
    with pytest.raises(exceptions.BadRequest, match="label"):
        bucket.patch()


def test_a_bucket_that_holds_objects_cannot_be_deleted(bucket: storage.Bucket, client) -> None:
    bucket.blob("keep").upload_from_string(b"x")
    with pytest.raises(exceptions.Conflict, match="not empty"):
        bucket.delete()
    bucket.blob("keep").delete()
    bucket.delete()
    assert client.lookup_bucket(bucket.name) is None


def test_a_versioned_bucket_keeps_noncurrent_generations_until_they_are_deleted_by_number(client) -> None:
    bucket = client.bucket(new_name("versions"))
    bucket.versioning_enabled = True
    bucket.create()
    first = bucket.blob("model.pb")
    first.upload_from_string(b"v1")
    second = bucket.blob("model.pb")
    second.upload_from_string(b"v2")
    listed = [(b.name, b.generation) for b in bucket.list_blobs(versions=True)]
    assert listed == [("model.pb", first.generation), ("model.pb", second.generation)]
    assert [b.generation for b in bucket.list_blobs()] == [second.generation]
    old = bucket.get_blob("model.pb", generation=first.generation)
    assert old.download_as_bytes() == b"v1" and old.time_deleted is not None
    bucket.blob("model.pb").delete()  # the live one becomes noncurrent too
    assert bucket.get_blob("model.pb") is None
    with pytest.raises(exceptions.Conflict):
        bucket.delete()
    bucket.delete(force=True)  # deletes every generation by number, then the bucket
    assert client.lookup_bucket(bucket.name) is None


def test_an_unversioned_overwrite_leaves_no_old_generation(bucket: storage.Bucket) -> None:
    first = bucket.blob("model.pb")
    first.upload_from_string(b"v1")
    bucket.blob("model.pb").upload_from_string(b"v2")
    assert bucket.get_blob("model.pb", generation=first.generation) is None
    assert [b.name for b in bucket.list_blobs(versions=True)] == ["model.pb"]


def test_predefined_acls_that_change_nothing_are_accepted_on_create_and_the_rest_refused(client) -> None:
    """gcsfs creates buckets with projectPrivate / bucketOwnerFullControl (issue 22); those leave a bucket as a plain
    create does for vertex-local's one principal. Granting anyone else anything is refused, and nothing is made."""
    made = client.create_bucket(new_name("acl"), predefined_acl="projectPrivate",
                                predefined_default_object_acl="bucketOwnerFullControl")  # fmt: skip
    assert client.get_bucket(made.name).name == made.name
    for acl, default_acl in [
        ("publicRead", None),
        ("private", None),
        (None, "publicRead"),
        (None, "authenticatedRead"),
    ]:
        name = new_name("acl")
        with pytest.raises(exceptions.BadRequest, match="is not implemented by vertex-local"):
            client.create_bucket(name, predefined_acl=acl, predefined_default_object_acl=default_acl)
        assert client.lookup_bucket(name) is None


@pytest.mark.parametrize("location", ["NAM4", "eur4", "ASIA1"])
def test_predefined_dual_regions_are_locations_of_their_own_type(client, location: str) -> None:
    made = client.create_bucket(new_name("dual"), location=location)
    assert (made.location, made.location_type) == (location.upper(), "dual-region")
    assert client.get_bucket(made.name).location_type == "dual-region"


def test_made_up_digit_locations_are_still_refused(client) -> None:
    name = new_name("dual")
    with pytest.raises(exceptions.BadRequest, match="not a Cloud Storage location"):
        client.create_bucket(name, location="NAM9")
    assert client.lookup_bucket(name) is None


def test_the_project_service_agent_is_named_as_google_names_it(client) -> None:
    email = client.get_service_account_email()
    number = client.create_bucket(new_name("agent")).project_number
    assert email == f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"
    assert client.get_service_account_email(project="123456789012") == (
        "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
    )
