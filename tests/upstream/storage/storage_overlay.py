"""The adaptation of python-storage's tests/system to vertex-local: the families left out, one reason each.

Loaded by run.py (`-p storage_overlay`); the upstream files run unmodified. A family is a list of node-id patterns
(fnmatch); every deselected test belongs to exactly one family, and the summary prints how many each took.
"""

from __future__ import annotations

import collections
import fnmatch

import pytest

# reason -> node-id patterns. vertex-local refuses these features with a clear 400/404 (see the README's table).
FAMILIES: dict[str, list[str]] = {
    "ACLs, object owners and public access prevention: vertex-local has no principals to grant anything to": [
        "*acl*", "*_w_owner", "*_pap", "*ubla*"],
    "IAM policies": ["*iam_policy*"],
    "retention policies, object retention and holds (nothing is retained or held locally)": [
        "*retention*", "*_hold*"],
    "lifecycle rules (nothing would ever run them locally)": ["*lifecycle*"],
    "customer-supplied and KMS encryption keys": [
        "*add_key*", "*rotate_key*", "*encryption_key*", "*test_kms_integration.py::*", "*encryption_enforcement*"],
    "HMAC keys": ["*test_hmac_key_metadata.py::*"],
    "Pub/Sub notifications": ["*test_notification.py::*"],
    "signed URLs and POST policies (signatures Google's front end checks; the XML API)": ["*test__signing.py::*"],
    "soft delete and restore": ["*soft_delete*", "*restore*"],
    "hierarchical namespace buckets and managed folders": ["*_hns", "*hierarchical_namespace*", "*managed_folders*"],
    "bucket configurations vertex-local refuses: autoclass, dual-region placement, IP filters, static websites": [
        "*autoclass*", "*dual_region*", "*ip_filter*", "*test_bucket_crud_w_requester_pays"],
    "XML API multipart uploads (transfer_manager.upload_chunks_concurrently)": ["*upload_chunks_concurrently*"],
    "gRPC (Rapid / zonal buckets): vertex-local speaks the JSON API only": ["*test_rapid.py::*"],
    "the client's OpenTelemetry tracing, not a storage behaviour (needs opentelemetry-sdk)": [
        "*test_aco_observability.py::*"],
}  # fmt: skip


def family_of(nodeid: str) -> str | None:
    for reason, patterns in FAMILIES.items():
        if any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in patterns):
            return reason
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    tally: collections.Counter[str] = collections.Counter()
    for item in items:
        reason = family_of(item.nodeid)
        (dropped if reason else kept).append(item)
        if reason:
            tally[reason] += 1
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config.stash[TALLY] = tally


TALLY = pytest.StashKey[collections.Counter]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, collections.Counter())
    terminalreporter.section("deselected for vertex-local, by family")
    for reason, count in tally.most_common():
        terminalreporter.line(f"{count:4}  {reason}")
    count = {key: len(terminalreporter.stats.get(key, [])) for key in ("passed", "failed", "error", "skipped")}
    terminalreporter.line(
        f"upstream-storage: {count['passed']} passed, {count['failed']} failed, {count['error']} errors, "
        f"{count['skipped']} skipped, {sum(tally.values())} deselected"
    )
