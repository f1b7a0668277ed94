"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

# Where the `clock` fixture (conftest.py) stops time: tests compare what the services stamp against it.
FROZEN_NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def changelist_query_count(client, url):
    """How many queries one GET of `url` makes (it must answer 200): for pinning list pages' N+1."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def assert_update_rejected(queryset, constraint, **values):
    """QuerySet.update bypasses Python validation: the database itself must refuse the value (the error
    names `constraint`)."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        queryset.update(**values)
