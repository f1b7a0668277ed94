"""Operators' endpoints that read every app (so not in the spotopt foundation): /metrics."""
