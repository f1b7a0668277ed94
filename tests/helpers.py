"""Small helpers shared by test modules (fixtures live in conftest.py)."""

import re
from datetime import UTC, datetime
from html import unescape as html_unescape

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


def page_link(response, rel: str) -> str | None:
    """The href of the list page's pagination link `rel` ("next", "prev"; "first" is the First button)."""
    page = response.content.decode()
    if rel == "first":
        found = re.search(r'<a class="button button--small button--quiet" href="([^"]*)">First</a>', page)
    else:
        found = re.search(rf'<a class="button button--small" href="([^"]*)" rel="{rel}">', page)
    return html_unescape(found.group(1)) if found else None


def walk_pages(client, url: str, params: dict, rows_of) -> list[tuple[list, object]]:
    """Follow a list page's Next links from the first page: [(rows_of(response), response), ...]."""
    response = client.get(url, params)
    pages = []
    while True:
        assert response.status_code == 200
        pages.append((rows_of(response), response))
        next_href = page_link(response, "next")
        if next_href is None:
            return pages
        assert len(pages) < 100, "the Next links do not end"
        response = client.get(f"{url}{next_href}")
