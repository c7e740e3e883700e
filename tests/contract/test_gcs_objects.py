"""Cloud Storage objects as the pipeline uses them: written once, read back byte-exact with their checksums."""

from __future__ import annotations

import base64

import google_crc32c


def test_an_uploaded_object_reads_back_with_its_crc32c(target) -> None:
    bucket = target.storage_client().bucket(target.bucket)
    blob = bucket.blob(target.object_name("metrics.json"))
    target.created(blob.delete)
    data = b'{"accuracy": 0.98}\n'
    blob.upload_from_string(data, content_type="application/json")
    fetched = bucket.get_blob(blob.name)
    assert fetched.download_as_bytes() == data
    assert base64.b64decode(fetched.crc32c) == google_crc32c.Checksum(data).digest()
    assert fetched.content_type == "application/json" and fetched.size == len(data)
