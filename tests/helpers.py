"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def changelist_query_count(client, url):
    """How many queries one GET of `url` makes (it must answer 200): for pinning list pages' N+1."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def assert_move(obj, field, move, *, label, current, target, allowed_moves):
    """`move(target)` succeeds exactly when (current, target) is an allowed move; otherwise it raises
    TransitionNotAllowed naming both states and leaves the field as it was."""
    import pytest

    from spotopt.errors import TransitionNotAllowed

    if (current, target) in allowed_moves:
        move(target)
        assert getattr(obj, field) == target
        return
    with pytest.raises(TransitionNotAllowed) as excinfo:
        move(target)
    assert f"{label} cannot move from {current} to {target}" in str(excinfo.value)
    assert getattr(obj, field) == current
