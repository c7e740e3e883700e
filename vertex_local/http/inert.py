"""Stored bytes served from the API's own origin stay inert: no script of theirs runs with the API's authority.

Cloud Storage serves user content from another origin than its console; vertex-local serves objects and job logs
from the origin its API answers on, which its request guard trusts. So every response carrying stored bytes says:
sandbox (an opaque origin, no script, no forms; default-src 'none': nothing loaded), nosniff (a browser never
takes text for HTML), and, unless the type is one a browser shows passively, attachment (downloaded, not shown).
"""

from __future__ import annotations

INERT_HEADERS = {"content-security-policy": "sandbox; default-src 'none'", "x-content-type-options": "nosniff"}
# Types a browser renders without running anything; everything else (HTML, XHTML, SVG, XML, JavaScript, PDF,
# and any type a browser might learn to render) is a download.
PASSIVE_TYPES = frozenset({"text/plain", "text/csv", "application/json", "application/octet-stream",
                           "image/png", "image/jpeg", "image/gif", "image/webp"})  # fmt: skip


def content_disposition(content_type: str, stored: str | None) -> str | None:
    """The Content-Disposition to send: the stored one, turned to `attachment` (its parameters, such as a
    filename, kept) when the type is not passive."""
    if content_type.split(";", 1)[0].strip().lower() in PASSIVE_TYPES:
        return stored
    if stored is None:
        return "attachment"
    _, separator, parameters = stored.partition(";")
    return "attachment" + separator + parameters
