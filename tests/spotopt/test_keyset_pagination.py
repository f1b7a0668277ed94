"""Keyset pagination (spotopt.pagination): walking a list page by page, forwards from the first page and
backwards from the last, gives every row exactly once and in the list's order, whatever the order: ties,
NULLs placed first or last, descending keys, annotations."""

from decimal import Decimal

import pytest
from django.db.models import Case, F, IntegerField, Value, When

from fleet.models import Instance
from spotopt.pagination import InvalidCursor, capped_count, decode_cursor, keyset_page, sort_keys

pytestmark = pytest.mark.django_db

PRICES = [None, "0.1", "0.1", "0.05", None, "0.2", "0.1", None, "0.3", "0.05", "0.2"]


@pytest.fixture
def instances(client_user, make_account, make_instance):
    account = make_account(client_user)
    for n, price in enumerate(PRICES):
        make_instance(
            account,
            instance_id=f"i-{n:017x}",
            instance_type=["m5.large", "c5.large"][n % 2],
            hourly_price=Decimal(price) if price else None,
            price_source="on_demand_list" if price else "unknown",
        )
    return Instance.objects.filter(account=account)


ORDERINGS = {
    "id": ("instance_id",),
    "-id": ("-instance_id",),
    "type, id": ("instance_type", "instance_id"),
    "-type, -id": ("-instance_type", "-instance_id"),
    "price nulls last": (F("hourly_price").asc(nulls_last=True), "instance_id"),
    "-price nulls last": (F("hourly_price").desc(nulls_last=True), "instance_id"),
    "price nulls first": (F("hourly_price").asc(nulls_first=True), "-instance_id"),
    "-price nulls first": (F("hourly_price").desc(nulls_first=True), "instance_id"),
    "price (database default)": ("hourly_price",),  # the pk is added as the tiebreak
    "-price (database default)": ("-hourly_price",),
}


def walk(queryset, size: int, *, backwards: bool = False) -> list[str]:
    """Every row's id, page by page (from the last page back to the first when `backwards`)."""
    seen, cursor = [], None
    page = keyset_page(queryset, cursor=None, size=size)
    if backwards:
        while page.has_next:  # go to the last page first
            page = keyset_page(queryset, cursor=page.next_cursor, size=size)
        while True:
            seen[:0] = [row.instance_id for row in page.rows]
            if not page.has_previous:
                return seen
            page = keyset_page(queryset, cursor=page.previous_cursor, size=size)
    while True:
        seen += [row.instance_id for row in page.rows]
        assert len(page.rows) == size or not page.has_next
        if not page.has_next:
            return seen
        cursor = page.next_cursor
        page = keyset_page(queryset, cursor=cursor, size=size)


@pytest.mark.parametrize("ordering", list(ORDERINGS), ids=list(ORDERINGS))
@pytest.mark.parametrize("size", [1, 2, 3, 4, 11, 50])
@pytest.mark.parametrize("backwards", [False, True], ids=["forwards", "backwards"])
def test_every_row_exactly_once_in_order(instances, ordering, size, backwards):
    ordered = instances.order_by(*ORDERINGS[ordering])
    # The list's order made explicit: a plain field puts NULLs last ascending and first descending, as
    # PostgreSQL does, on every database; the primary key breaks ties.
    explicit = [key.order_by() for key in sort_keys(ordered)]
    expected = list(ordered.order_by(*explicit).values_list("instance_id", flat=True))
    assert walk(ordered, size, backwards=backwards) == expected


def test_an_annotated_order_pages_too(instances):
    # The approvals list orders by an annotation (pending first); the keyset filters on it.
    cheap_first = Case(
        When(hourly_price__lt=Decimal("0.1"), then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    ordered = instances.annotate(rank=cheap_first).order_by("rank", "-instance_id")
    expected = list(ordered.values_list("instance_id", flat=True))
    assert walk(ordered, 3) == expected


def test_the_first_and_last_pages_say_so(instances):
    first = keyset_page(instances.order_by("instance_id"), cursor=None, size=4)
    assert (first.has_previous, first.has_next) == (False, True)
    everything = keyset_page(instances.order_by("instance_id"), cursor=None, size=100)
    assert (everything.has_previous, everything.has_next, len(everything.rows)) == (False, False, len(PRICES))
    assert keyset_page(instances.none(), cursor=None, size=10).rows == []


@pytest.mark.parametrize("cursor", ["", "nope", "eyJkIjoibiJ9", "eyJkIjoieCIsInYiOlsxXX0"])
def test_a_cursor_it_did_not_give_out_is_refused(instances, cursor):
    if not cursor:
        assert keyset_page(instances, cursor=cursor, size=2).rows  # empty means the first page
        return
    with pytest.raises(InvalidCursor):
        keyset_page(instances.order_by("instance_id"), cursor=cursor, size=2)


def test_a_cursor_with_values_of_the_wrong_type_is_refused(instances):
    page = keyset_page(instances.order_by(F("hourly_price").asc(nulls_last=True)), cursor=None, size=2)
    direction, values = decode_cursor(page.next_cursor, keys=2)
    from spotopt.pagination import encode_cursor

    forged = encode_cursor(direction, ["not a number", values[1]])
    with pytest.raises(InvalidCursor):
        keyset_page(instances.order_by(F("hourly_price").asc(nulls_last=True)), cursor=forged, size=2)


def test_counts_are_capped(instances):
    assert capped_count(instances, cap=100) == (len(PRICES), False)
    assert capped_count(instances, cap=5) == (5, True)
