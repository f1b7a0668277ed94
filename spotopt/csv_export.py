"""CSV exports of list pages: exactly the rows of the filtered list, streamed (a large list is never held in
memory), each column a (header, value of a row) pair."""

import csv
from collections.abc import Callable, Iterable

from django.http import StreamingHttpResponse
from django.utils import timezone

Column = tuple[str, Callable]


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def csv_response(rows: Iterable, columns: list[Column], *, name: str) -> StreamingHttpResponse:
    """A download `spotopt-<name>-<date>.csv` of `rows` (iterate a queryset with .iterator())."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([header for header, _ in columns])
        for row in rows:
            yield writer.writerow([value(row) for _, value in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="spotopt-{name}-{timezone.now():%Y-%m-%d}.csv"'
    return response
