"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def changelist_query_count(client, url):
    """How many queries one GET of `url` makes (it must answer 200): for pinning list pages' N+1."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)
