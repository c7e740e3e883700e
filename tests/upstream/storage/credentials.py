"""A throwaway service-account identity for the upstream suite, and the token endpoint it signs in at.

Under STORAGE_EMULATOR_HOST the client is anonymous, and the suite skips every test that needs a service-account
credential (its `service_account` fixture): a third of test_blob.py. So run.py points the client at vertex-local
with API_ENDPOINT_OVERRIDE instead and GOOGLE_APPLICATION_CREDENTIALS at this key, whose token_uri is a stub on
loopback: the client signs in as it would at Google and sends `Authorization: Bearer ...`, which vertex-local
ignores on loopback. The key is generated per run and never leaves the temp dir.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN = {"access_token": "upstream-suite-token", "expires_in": 3600, "token_type": "Bearer"}


class TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(TOKEN).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep the suite's output clean
        pass


def start_token_stub() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/token"


def write_service_account_key(path: Path, project: str, token_uri: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "upstream-suite",
        "private_key": pem.decode(),
        "client_email": f"upstream-suite@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    return path
