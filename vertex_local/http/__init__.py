"""HTTP hardening for every route: the guarded protocol (head and body deadlines, size limits), the access log,
and bounded body reading."""
