"""Concurrent multipart uploads to vertex-local, and the server's peak memory while they run.

Used by `make bench-gcs` (figures) and tests/vertex_local/gcs/test_memory.py (the bound). The peak is the kernel's
own high-water mark of the server process (VmHWM in /proc/PID/status), reset just before the burst by writing 5 to
/proc/PID/clear_refs, so no sampling can miss it.
"""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

BOUNDARY = "bench-boundary"
MIB = 1 << 20


def multipart_body(name: str, media: bytes) -> tuple[bytes, str]:
    """A multipart/related upload body as google-cloud-storage sends it, and its Content-Type."""
    metadata = json.dumps({"name": name, "contentType": "application/octet-stream"})
    head = f"--{BOUNDARY}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n".encode()
    head += f"--{BOUNDARY}\r\ncontent-type: application/octet-stream\r\n\r\n".encode()
    return head + media + f"\r\n--{BOUNDARY}--\r\n".encode(), f'multipart/related; boundary="{BOUNDARY}"'


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/status has no {field}")


def upload(url: str, bucket: str, name: str, media: bytes) -> int:
    parts = urlsplit(url)
    body, content_type = multipart_body(name, media)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        connection.request("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=multipart", body,
                           {"content-type": content_type})  # fmt: skip
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def burst(url: str, bucket: str, count: int, media: bytes, prefix: str) -> list[int]:
    """`count` uploads of `media` at once (one thread and connection each); their HTTP statuses."""
    statuses = [0] * count
    barrier = threading.Barrier(count)

    def one(index: int) -> None:
        barrier.wait(timeout=60)
        statuses[index] = upload(url, bucket, f"{prefix}/{index}", media)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def peak_growth_mib(pid: int, url: str, bucket: str, count: int, media: bytes, prefix: str) -> tuple[float, list[int]]:
    """(how far the server's resident memory peaked above where it stood before the burst, in MiB; statuses)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the high-water mark restarts from the current RSS
    before = status_kib(pid, "VmRSS")
    statuses = burst(url, bucket, count, media, prefix)
    return (status_kib(pid, "VmHWM") - before) / 1024, statuses
