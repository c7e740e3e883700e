"""vertex-local: the Vertex AI v1 REST subset and Cloud Storage JSON API subset on one port,
for laptops and CI.

Run it with `python -m vertex_local serve --host 127.0.0.1 --port 8080 --state-dir .vertex-local`.
"""
