"""Request strategies for tests/vertex_local/test_fuzz.py: every Vertex route and every Cloud Storage route.

Each request starts from the route's valid form (so most reach past the first check) and is then mutated
(fields dropped, retyped, added), its ids swapped for unknown ones, its query, body or method replaced.

The composite strategies draw from strategy objects built once (module constants, or cached per argument) rather
than anew in every case: hypothesis validates each new strategy object before its first draw, which cost more CPU
than the drawing. The same objects, built the same way, draw the same cases.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import strategies as st

from tests.support import fuzz_strategies as fs

SANDBOX = "projects/fuzz/locations/us-central1"  # the management fuzzing's project: the predict target is elsewhere
# A JSON body's type: mostly what the SDKs send, so that fuzzing reaches past the 415 other types get.
SDK_OR_ANY_JSON_TYPE = st.one_of(
    st.just("application/json"), st.just("application/json; charset=UTF-8"), fs.content_types
)
Request = tuple[str, str, bytes, dict[str, str]]  # method, path with query, body, headers


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """Ids of resources under SANDBOX that the management fuzzing may change, delete or redeploy."""

    model_ids: list[str]
    endpoint_ids: list[str]
    deployed_ids: list[str]
    operation_ids: list[str]
    job_ids: list[str]


def vertex_routes(box: Sandbox) -> list[tuple[str, str, Any]]:
    """(method, path under the parent, valid body or None) for every Vertex route; {model} {endpoint} {job}
    {operation} {deployed} are filled from the sandbox's ids."""
    broken = f"{SANDBOX}/models/{box.model_ids[0]}"
    pool = {
        "machineSpec": {"machineType": "n1-standard-4"},
        "replicaCount": 1,
        "containerSpec": {"imageUri": "local/true", "command": ["true"], "env": [{"name": "A", "value": "1"}]},
    }
    job = {
        "displayName": "fuzz-job",
        "labels": {"k": "v"},
        "jobSpec": {"workerPoolSpecs": [pool], "baseOutputDirectory": {"outputUriPrefix": "gs://fuzz-bucket/o"}},
    }
    model = {
        "displayName": "fuzz-model",
        "artifactUri": "gs://test-bucket/nothing/model",
        "labels": {"k": "v"},
        "containerSpec": {"imageUri": "x"},
        "versionAliases": ["a1"],
        "description": "d",
    }
    deployed = {"model": broken, "displayName": "d", "dedicatedResources": {"minReplicaCount": 1}}
    return [
        ("POST", "customJobs", job),
        ("GET", "customJobs?filter=state%3DJOB_STATE_FAILED", None),
        ("POST", "customJobs/{job}:cancel", None),
        ("GET", "customJobs/{job}:logs", None),
        ("GET", "customJobs/{job}", None),
        ("DELETE", "customJobs/{job}", None),
        ("POST", "models:upload", {"model": model, "parentModel": broken}),
        ("POST", "models:upload", {"model": model, "modelId": "fuzz-m"}),
        ("GET", "models?filter=display_name%3D%22fuzz-model%22", None),
        ("GET", "models/{model}:listVersions", None),
        ("POST", "models/{model}:mergeVersionAliases", {"versionAliases": ["a2", "-a1"]}),
        ("DELETE", "models/{model}:deleteVersion", None),
        ("GET", "models/{model}", None),
        ("PATCH", "models/{model}?updateMask=labels,description", {"labels": {"k": "w"}, "description": "e"}),
        ("DELETE", "models/{model}", None),
        ("POST", "endpoints", {"displayName": "fuzz-e", "labels": {"k": "v"}, "description": "d"}),
        ("GET", "endpoints?filter=labels.k%3D%22v%22", None),
        ("POST", "endpoints/{endpoint}:deployModel", {"deployedModel": deployed, "trafficSplit": {"0": 100}}),
        ("POST", "endpoints/{endpoint}:undeployModel", {"deployedModelId": "{deployed}", "trafficSplit": {}}),
        ("GET", "endpoints/{endpoint}", None),
        ("PATCH", "endpoints/{endpoint}?updateMask=trafficSplit", {"trafficSplit": {"{deployed}": 100}}),
        ("DELETE", "endpoints/{endpoint}", None),
        ("GET", "operations/{operation}", None),
    ]  # fmt: skip


@functools.cache
def route_choices(ids: tuple[tuple[str, ...], ...]) -> st.SearchStrategy[tuple[str, str, Any]]:
    """st.sampled_from(vertex_routes(box)) for the sandbox with these ids (Sandbox's fields, in order)."""
    return st.sampled_from(vertex_routes(Sandbox(*map(list, ids))))


@functools.cache
def query_choices(query: str) -> st.SearchStrategy[str]:
    """A route's own query string, or any."""
    return st.one_of(st.just("?" + query if query else ""), fs.query_strings)


PARENTS = st.one_of(st.just(SANDBOX), st.just(SANDBOX), st.builds(
    "projects/{}/locations/{}".format, fs.fuzz_id(["fuzz"]), fs.fuzz_id(["us-central1"])))  # fmt: skip
UNEXPECTED_BODIES = st.one_of(fs.json_bodies, st.binary(max_size=100))
ANY_METHOD = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"])


@st.composite
def vertex_requests(draw: st.DrawFn, box: Sandbox) -> Request:
    """One request to a Vertex route: mostly its valid form with a few mutations, sometimes anything."""
    method, route, template = draw(route_choices(tuple(tuple(ids) for ids in dataclasses.astuple(box))))
    ids = {"model": box.model_ids, "endpoint": box.endpoint_ids, "job": box.job_ids,
           "operation": box.operation_ids, "deployed": box.deployed_ids}  # fmt: skip
    chosen = {name: draw(fs.fuzz_id(known)) for name, known in ids.items()}
    path, _, query = route.format(**chosen).partition("?")
    query = draw(query_choices(query))
    parent = draw(PARENTS)
    body = b"" if template is None else fs.encode(draw(fs.mutated(json.loads(
        json.dumps(template).replace("{deployed}", chosen["deployed"])))), draw(st.booleans()))  # fmt: skip
    if draw(st.integers(0, 5)) == 0:  # now and then a body or a method the route does not expect
        body = draw(UNEXPECTED_BODIES)
    if draw(st.integers(0, 5)) == 0:
        method = draw(ANY_METHOD)
    return method, f"/v1/{parent}/{path}{query}", body, {"content-type": draw(SDK_OR_ANY_JSON_TYPE)}


def storage_templates(bucket: str, name: str, fields: dict[str, Any] | None = None) -> list[tuple[str, str, Any]]:
    """(method, path, valid JSON body, bytes or None) for every Cloud Storage route; with `fields` (which go into
    every object resource a route writes) the metadata writes and verbs as well."""
    b, o = quote(bucket, safe=""), quote(name, safe="")
    extra = fields or {}
    metadata = {"name": name, "contentType": "text/plain", "metadata": {"k": "v"}, **extra}
    compose = {"sourceObjects": [{"name": name, "generation": "1"}, {"name": "fuzz/a.txt"}], "destination": extra}
    writes = [
        ("PATCH", f"/storage/v1/b/{b}/o/{o}?ifMetagenerationMatch=1", {"cacheControl": "no-cache", **extra}),
        ("PUT", f"/storage/v1/b/{b}/o/{o}", metadata),
        ("POST", f"/storage/v1/b/{b}/o/{o}/copyTo/b/{b}/o/fuzz%2Fcopy?sourceGeneration=1", extra),
        ("POST", f"/storage/v1/b/{b}/o/{o}/rewriteTo/b/{b}/o/fuzz%2Frewritten?ifSourceGenerationMatch=1", extra),
        ("POST", f"/storage/v1/b/{b}/o/fuzz%2Fcomposed/compose?ifGenerationMatch=0", compose),
        ("POST", f"/storage/v1/b/{b}/o/{o}/moveTo/o/fuzz%2Fmoved", None),
        ("PATCH", f"/storage/v1/b/{b}?ifMetagenerationMatch=1", {"labels": {"k": "v"}}),
        ("PUT", f"/storage/v1/b/{b}", {"name": bucket, "versioning": {"enabled": True}}),
    ]
    return [
        *(writes if fields is not None else []),
        ("POST", "/storage/v1/b?project=fuzz-project", {"name": bucket, "location": "US"}),
        ("GET", "/storage/v1/b?project=fuzz-project", None),
        ("GET", f"/storage/v1/b/{b}", None),
        ("DELETE", f"/storage/v1/b/{b}", None),
        ("GET", f"/storage/v1/b/{b}/o?prefix=fuzz%2F&delimiter=%2F&maxResults=2&startOffset=a", None),
        ("GET", f"/storage/v1/b/{b}/o/{o}", None),
        ("GET", f"/storage/v1/b/{b}/o/{o}?alt=media", None),
        ("GET", f"/download/storage/v1/b/{b}/o/{o}?generation=1", None),
        ("DELETE", f"/storage/v1/b/{b}/o/{o}", None),
        ("POST", f"/upload/storage/v1/b/{b}/o?uploadType=media&name={o}&ifGenerationMatch=0", b"media bytes"),
        ("POST", f"/upload/storage/v1/b/{b}/o?uploadType=multipart", metadata),
        ("POST", f"/upload/storage/v1/b/{b}/o?uploadType=resumable", metadata),
    ]


def multipart(metadata: bytes, media: bytes, boundary: str) -> tuple[bytes, str]:
    """A multipart/related body as google-cloud-storage sends it, and its Content-Type."""
    head = f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n".encode()
    middle = f"\r\n--{boundary}\r\ncontent-type: text/plain\r\n\r\n".encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + metadata + middle + media + tail, f'multipart/related; boundary="{boundary}"'


BUCKETS = st.sampled_from(["fuzz-bucket", "fuzz-bucket", "fuzz-other", "no-such-bucket", "A", "a..b"])
OBJECT_NAMES = st.one_of(st.sampled_from(["fuzz/a.txt", "fuzz/b/c.bin", "fuzz/", "fuzz", "../x", "a//b"]),
                         st.text(min_size=1, max_size=20).map(fs.readable))  # fmt: skip
STORAGE_HEADERS = fs.objects(**{
    "range": st.sampled_from(["bytes=0-3", "bytes=5-", "bytes=-3", "bytes=9-1", "bytes=x", "items=0-1"]),
    "content-range": st.sampled_from(["bytes 0-9/10", "bytes */10", "bytes 5-1/3", "bytes 0-3/*", "nope"]),
    "x-goog-hash": st.sampled_from(["md5=AAAA", "crc32c=AAAAAA==", "md5", ",,", "crc32c=!"]),
    "x-upload-content-type": st.text(fs.PRINTABLE, max_size=20),
    "content-type": fs.content_types})  # fmt: skip
BOUNDARIES = st.sampled_from(["b1", "==x==", "a b", ""])
STORAGE_QUERIES = st.dictionaries(
    st.sampled_from(["uploadType", "name", "ifGenerationMatch", "alt", "generation", "prefix", "delimiter",
                     "maxResults", "pageToken", "startOffset", "endOffset", "matchGlob", "upload_id"]),
    st.text(max_size=12).map(fs.readable), max_size=4)  # fmt: skip


@functools.cache
def hostile_fields(values: st.SearchStrategy[str]) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """The header-bound fields of an object resource, and its custom metadata, taking `values`."""
    return fs.objects(**dict.fromkeys(HEADER_FIELDS, values)), st.dictionaries(values, values, max_size=2)


@functools.cache
def media_bodies(media: bytes) -> st.SearchStrategy[bytes]:
    """A route's own media bytes, or any."""
    return st.one_of(st.just(media), st.binary(max_size=300))


@functools.cache
def methods_from(method: str) -> st.SearchStrategy[str]:
    """Mostly the route's own method, else any."""
    return st.one_of(st.just(method), st.just(method), st.sampled_from(["GET", "POST", "PUT", "DELETE"]))


@st.composite
def storage_requests(draw: st.DrawFn, metadata_values: st.SearchStrategy[str] | None = None) -> Request:
    """One request to a storage route, from its valid form: mutated metadata, odd names, ranges and headers;
    with `metadata_values`, the header-bound fields of the object resources it writes take those values."""
    bucket = draw(BUCKETS)
    name = draw(OBJECT_NAMES)
    hostile = metadata_values is not None
    fields = draw(hostile_fields(metadata_values)[0]) if hostile else None
    if fields is not None and draw(st.booleans()):
        fields["metadata"] = draw(hostile_fields(metadata_values)[1])
    method, path, template = draw(st.sampled_from(storage_templates(bucket, name, fields)))
    headers = draw(STORAGE_HEADERS)
    if isinstance(template, bytes) or template is None:
        body = draw(media_bodies(template or b""))
    elif "multipart" in path:
        metadata = fs.encode(draw(fs.mutated(template)), draw(st.booleans()))
        boundary = draw(BOUNDARIES)
        body, headers["content-type"] = multipart(metadata, draw(st.binary(max_size=200)), boundary)
        body = body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body
    else:
        body = fs.encode(draw(fs.mutated(template)), draw(st.booleans()))
        headers["content-type"] = draw(SDK_OR_ANY_JSON_TYPE)
    if draw(st.booleans()) and "?" in path:
        path = path.split("?")[0] + "?" + urlencode(draw(STORAGE_QUERIES))
    return draw(methods_from(method)), path, body, headers


@st.composite
def resumable_chunks(draw: st.DrawFn, session_path: str) -> Request:
    """A chunk (or a status query) for an open resumable session, with a right or wrong Content-Range."""
    data = draw(st.binary(max_size=64))
    start = draw(st.integers(0, 70))
    total = draw(st.sampled_from(["*", str(start + len(data)), "3", "1000"]))
    content_range = draw(st.one_of(
        st.just(f"bytes {start}-{start + len(data) - 1}/{total}" if data else f"bytes */{total}"),
        st.sampled_from(["bytes */*", f"bytes 0-{len(data)}/{total}", "bytes 0-0/0", "bytes=0-1/2"]),
        st.text(fs.PRINTABLE, max_size=20)))  # fmt: skip
    return "PUT", session_path, data, {"content-range": content_range}


HEADER_FIELDS = ("contentType", "contentEncoding", "contentDisposition", "contentLanguage", "cacheControl")
# Text where an integer, a header or a name goes: int64 edges, digits str.isdigit() takes but int() may not,
# CR/LF and NUL, characters past Latin-1, and any text.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", "0", "-1", "1" * 25, "9223372036854775807", "9223372036854775808", "-9223372036854775809",
                     "²", "١", "1e3", "0x10", " 1", "1.5", "true", "null", "a\r\nb: c", "\x00", "☃", "%", "*",
                     "\ud800"]),
    st.text(max_size=30),
).map(fs.readable)  # fmt: skip
STORAGE_PARAMS = ["generation", "sourceGeneration", "ifGenerationMatch", "ifGenerationNotMatch",
                  "ifMetagenerationMatch", "ifMetagenerationNotMatch", "ifSourceGenerationMatch",
                  "ifSourceMetagenerationNotMatch", "maxResults", "pageToken", "prefix", "delimiter", "startOffset",
                  "endOffset", "matchGlob", "filter", "versions", "includeTrailingDelimiter", "alt", "projection",
                  "uploadType", "name", "upload_id", "contentEncoding", "predefinedAcl", "kmsKeyName", "userProject",
                  "fields", "project", "destinationPredefinedAcl", "softDeleted"]  # fmt: skip
VERTEX_PARAMS = ["filter", "pageSize", "pageToken", "updateMask", "readMask", "orderBy", "tail", "endpointId",
                 "modelId", "parentModel", "alt", "fields", "$alt"]  # fmt: skip
# Never Host, Origin or the framing headers: the guard and the HTTP layer answer those (tests/vertex_local/http).
# Metadata values: hostile ones, and ones a write takes (so some writes store an object that is then downloaded).
METADATA_VALUES = st.one_of(HOSTILE_TEXT, st.sampled_from(["text/plain", "no-cache", "en", "attachment; filename=a"]))
HEADER_NAMES = ["range", "if-match", "if-none-match", "accept-encoding", "content-range", "x-goog-hash",
                "x-upload-content-type", "x-upload-content-length", "content-encoding", "accept",
                "x-goog-user-project", "x-http-method-override", "x-goog-api-client", "content-type",
                "x-goog-encryption-algorithm", "authorization", "x-server-timeout"]  # fmt: skip
HEADER_VALUES = st.one_of(
    st.sampled_from(["", "bytes=0-", "bytes=99999999999999999999999-", "bytes=0-1,2-3", "gzip", "*", '"x"',
                     "bytes */99999999999999999999999", "²", "Bearer x"]),
    # DEL is left out: the HTTP parser refuses it before the app sees the request (a plain-text 400 of uvicorn's)
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30),
)  # fmt: skip


HOSTILE_HEADERS = st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=3)


@functools.cache
def param_names(params: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(list(params))


@st.composite
def with_hostile_extras(draw: st.DrawFn, requests: st.SearchStrategy[Request], params: list[str]) -> Request:
    """A request with 0-3 query parameters added or replaced and 0-3 headers set, all to hostile values."""
    method, path, body, headers = draw(requests)
    base, _, query = path.partition("?")
    pairs = dict(parse_qsl(query, keep_blank_values=True))
    for _ in range(draw(st.integers(0, 3))):
        pairs[draw(param_names(tuple(params)))] = draw(HOSTILE_TEXT)
    extra = draw(HOSTILE_HEADERS)
    quoted = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in pairs.items()})
    return method, f"{base}?{quoted}", body, headers | extra


@st.composite
def metadata_uploads(draw: st.DrawFn) -> Request:
    """A well-formed multipart upload to the fuzz bucket whose header-bound fields and custom metadata take
    METADATA_VALUES: what it stores is downloaded next, which is where a bad stored value used to break."""
    fields = draw(fs.objects(**dict.fromkeys(HEADER_FIELDS, METADATA_VALUES), metadata=st.dictionaries(
        METADATA_VALUES, METADATA_VALUES, max_size=2)))  # fmt: skip
    metadata = fs.encode({"name": "fuzz/metadata", **fields}, draw(st.booleans()))
    body, content_type = multipart(metadata, draw(st.binary(max_size=64)), "b1")
    return "POST", "/upload/storage/v1/b/fuzz-bucket/o?uploadType=multipart", body, {"content-type": content_type}
