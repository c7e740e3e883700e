"""The Vertex AI v1 resources: models and the registry's rules, endpoints and deployments, custom jobs and
their runner, long-running operations, and the field, name and filter helpers their routes share."""
