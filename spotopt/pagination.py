"""Keyset (cursor) pagination, for the API (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]) and the list pages.

A page is "the `size` rows after (or before) this row, in the list's order", found with a WHERE on the order's
columns, so a deep page costs what the first one does: never an OFFSET over the rows before it, never a COUNT
of the whole list. The cursor carries the sort key of the row the page starts from (and the direction); the
order always ends with a unique column (the primary key, or a unique NOT NULL column such as the instance
id), so it is total and rows are never skipped or repeated. Counts are
capped (`COUNT_CAP`): a list says "10,000+" rather than scanning a million rows to say how many.

The WHERE is written so an index on the order's columns can range-scan it: for the order (a, b, pk) after
(x, y, z) it is `a >= x AND (a > x OR (a = x AND (b > y OR (b = y AND pk > z))))`, NULLs placed as the order
places them (`nulls_last`).

Its own module: spotopt.api imports drf-spectacular, which imports DRF's generic views, which import the
pagination class named in the settings.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db.models import F, OrderBy, Q
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as RequestInvalid
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

COUNT_CAP = 10_000
CURSOR_PARAM = "cursor"
PAGE_SIZE_PARAM = "page_size"
MAX_PAGE_SIZE = 500


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class SortKey:
    field: str  # a lookup path from the list's model (or an annotation)
    descending: bool
    nulls_last: bool

    def order_by(self) -> OrderBy:
        placement = {"nulls_last": True} if self.nulls_last else {"nulls_first": True}
        return F(self.field).desc(**placement) if self.descending else F(self.field).asc(**placement)

    def after(self, value) -> Q:
        """Rows whose key comes after `value` in this key's order."""
        if value is None:  # after a NULL: nothing when NULLs come last, every value when they come first
            return Q(pk__in=[]) if self.nulls_last else Q(**{f"{self.field}__isnull": False})
        beyond = Q(**{f"{self.field}__{'lt' if self.descending else 'gt'}": value})
        return beyond | Q(**{f"{self.field}__isnull": True}) if self.nulls_last else beyond

    def at_or_after(self, value) -> Q:
        """The index-friendly bound: this key is `value` or after it."""
        if value is None:
            return Q(**{f"{self.field}__isnull": True}) if self.nulls_last else Q()
        bound = Q(**{f"{self.field}__{'lte' if self.descending else 'gte'}": value})
        return bound | Q(**{f"{self.field}__isnull": True}) if self.nulls_last else bound

    def equal(self, value) -> Q:
        return Q(**{f"{self.field}__isnull": True}) if value is None else Q(**{self.field: value})

    def reversed(self) -> "SortKey":
        return SortKey(self.field, not self.descending, not self.nulls_last)


def _key_of(item, model) -> SortKey:
    if isinstance(item, str):
        descending = item.startswith("-")
        field = item.lstrip("-")
        if field == "pk":
            field = model._meta.pk.name
        # The databases' default: NULLs are larger than any value (last ascending, first descending).
        return SortKey(field, descending, nulls_last=not descending)
    if isinstance(item, OrderBy) and isinstance(item.expression, F):
        descending = item.descending
        nulls_last = item.nulls_last if (item.nulls_last or item.nulls_first) else not descending
        return SortKey(item.expression.name, descending, nulls_last=nulls_last)
    raise TypeError(f"keyset pagination orders by fields only, not by {item!r}")


def _unique(model, name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return bool(field.concrete and field.unique and not field.null)


def sort_keys(queryset) -> list[SortKey]:
    """The queryset's order as keys, with the primary key appended (a unique tiebreak) unless a key is
    unique already."""
    model = queryset.model
    items = list(queryset.query.order_by) or list(model._meta.ordering)
    keys = [_key_of(item, model) for item in items]
    pk = model._meta.pk.name
    # A unique NOT NULL column already makes the order total (the lists' instance id, say): no pk after it,
    # so the order is exactly the index's.
    if not any(key.field in (pk, "pk") or _unique(model, key.field) for key in keys):
        keys.append(SortKey(pk, False, nulls_last=True))
    return keys


def after_row(keys: list[SortKey], values: list) -> Q:
    """Rows after the row whose sort key is `values`, in the order of `keys`."""
    condition = Q(pk__in=[])
    for index in range(len(keys) - 1, -1, -1):
        key, value = keys[index], values[index]
        condition = key.after(value) | (key.equal(value) & condition)
    return keys[0].at_or_after(values[0]) & condition


def _encode(value):
    if isinstance(value, datetime | date | UUID | Decimal):
        return str(value) if not isinstance(value, datetime | date) else value.isoformat()
    return value


def encode_cursor(direction: str, values: list) -> str:
    raw = json.dumps({"d": direction, "v": [_encode(value) for value in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: int) -> tuple[str, list]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        direction, values = data["d"], data["v"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidCursor("That cursor is not one this list gave out.") from None
    if direction not in ("n", "p") or not isinstance(values, list) or len(values) != keys:
        raise InvalidCursor("That cursor is not one this list gave out.")
    return direction, values


def _value(row, field: str):
    value = row
    for part in field.split("__"):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return getattr(value, "pk", value) if hasattr(value, "_meta") else value


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None


def keyset_page(queryset, *, cursor: str | None, size: int) -> KeysetPage:
    """The page of `size` rows that `cursor` points at (the first page without one)."""
    keys = sort_keys(queryset)
    ordered = queryset.order_by(*(key.order_by() for key in keys))
    direction, values = ("n", None) if not cursor else decode_cursor(cursor, keys=len(keys))
    try:
        if direction == "n":
            window = ordered.filter(after_row(keys, values)) if values is not None else ordered
            rows = list(window[: size + 1])
        else:
            backward = [key.reversed() for key in keys]
            window = queryset.order_by(*(key.order_by() for key in backward)).filter(after_row(backward, values))
            rows = list(window[: size + 1])
    except (ValidationError, ValueError, TypeError, FieldError, ArithmeticError):
        raise InvalidCursor("That cursor is not one this list gave out.") from None
    more = len(rows) > size
    rows = rows[:size]
    if direction == "p":
        rows.reverse()
    key_of = lambda row: [_value(row, key.field) for key in keys]  # noqa: E731
    came_from_elsewhere = values is not None
    has_next = more if direction == "n" else came_from_elsewhere
    has_previous = came_from_elsewhere if direction == "n" else more
    return KeysetPage(
        rows=rows,
        next_cursor=encode_cursor("n", key_of(rows[-1])) if rows and has_next else None,
        previous_cursor=encode_cursor("p", key_of(rows[0])) if rows and has_previous else None,
    )


def capped_count(queryset, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(how many rows, whether there are more than that): counts at most `cap` + 1 rows."""
    # Only the key in the subquery: no columns nor select_related joins to compile, read or join.
    counted = queryset.order_by().values("pk")[: cap + 1].count()
    return min(counted, cap), counted > cap


# --- The API --------------------------------------------------------------------------------------------


class KeysetPagination(pagination.BasePagination):
    """The API lists: `?cursor=` (from `next` / `previous`) and `?page_size=` (1 to MAX_PAGE_SIZE, 50 by
    default). The answer: {"count", "count_capped", "next", "previous", "results"}; `count` stops at
    COUNT_CAP (then `count_capped` is true). A page_size out of range is a 400; a cursor this list did not
    give out (edited, or from another list or order) is a 404, as a page past the end is."""

    page_size = 50

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(PAGE_SIZE_PARAM)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise RequestInvalid({PAGE_SIZE_PARAM: [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
        return size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.count, self.count_capped = capped_count(queryset)
        try:
            self.page = keyset_page(
                queryset, cursor=request.query_params.get(CURSOR_PARAM), size=self.get_page_size(request)
            )
        except InvalidCursor as error:
            raise NotFound(str(error)) from None
        return self.page.rows

    def _link(self, cursor):
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, CURSOR_PARAM, cursor) if cursor else remove_query_param(url, CURSOR_PARAM)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_capped": self.count_capped,
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["count", "count_capped", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": f"How many rows, counted up to {COUNT_CAP:,}."},
                "count_capped": {"type": "boolean", "description": "True when there are more than `count`."},
                "next": {**link, "description": "The next page (null on the last)."},
                "previous": {**link, "description": "The page before (null on the first)."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": CURSOR_PARAM,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the cursor of a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": PAGE_SIZE_PARAM,
                "required": False,
                "in": "query",
                "description": f"Rows a page, 1 to {MAX_PAGE_SIZE} (50 when not given).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": self.page_size},
            },
        ]
