"""Small helpers for models and the jobs that write them: database-enforced enum and money rules, timestamps,
read-only models, set-based writes (bulk_update_values) and id sets kept in the database (temporary_id_set)."""

import uuid
from contextlib import contextmanager

from django.db import models


def choices_check(field: str, choices, *, name: str, nullable: bool = False) -> models.CheckConstraint:
    """A CHECK constraint that keeps `field` inside its TextChoices, held by the database itself."""
    condition = models.Q(**{f"{field}__in": choices.values})
    if nullable:
        condition |= models.Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=condition, name=name)


def non_negative(field: str, *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": 0}) | models.Q(**{f"{field}__isnull": True}), name=name
    )


class UUIDModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(UUIDModel):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ReadOnlyError(Exception):
    pass


class ReadOnlyModel(models.Model):
    """Base for unmanaged models over database views: they can be read, never written."""

    class Meta:
        abstract = True
        managed = False

    def save(self, *args, **kwargs):
        raise ReadOnlyError(f"{type(self).__name__} is a read-only reporting view.")

    def delete(self, *args, **kwargs):
        raise ReadOnlyError(f"{type(self).__name__} is a read-only reporting view.")


class AuditRefsModel(TimestampedModel):
    """Audit rows (approvals, downtime) outlive the account and instance they name: the foreign keys are
    SET_NULL and the AWS account id and EC2 instance id are kept as text."""

    aws_account_ref = models.CharField(max_length=64, blank=True, help_text="AWS account id when recorded.")
    instance_ref = models.CharField(max_length=32, blank=True, help_text="EC2 instance id when recorded.")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # Follow the links while they exist; once they are gone (SET_NULL) the last values stay.
        if self.account_id:
            self.aws_account_ref = self.account.account_id
        if self.instance_id:
            self.instance_ref = self.instance.instance_id
        super().save(*args, **kwargs)


# How many rows one set-based UPDATE carries: the statement stays small enough to plan and run in
# milliseconds whatever the total, so the cost of a write grows with the rows, never with their square.
UPDATE_BATCH = 1000
# SQLite's fallback (Django's bulk_update, one CASE branch per row): smaller batches keep each statement cheap.
SQLITE_UPDATE_BATCH = 200


def bulk_update_values(model: type[models.Model], rows: list, fields: list[str]) -> int:
    """Write `fields` of `rows` (model instances with their primary keys) in set-based statements.

    PostgreSQL: `UPDATE t SET f = v.f … FROM (VALUES (pk, f…), …) AS v WHERE t.pk = v.pk`, a batch of
    UPDATE_BATCH rows a statement. Django's own bulk_update writes one `CASE WHEN pk = … THEN …` branch per
    row into every column of a single statement, whose cost grows with the square of the rows (and which
    PostgreSQL's JIT makes worse). Elsewhere: bulk_update in small batches. Returns the rows written."""
    from django.db import connections, router

    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(rows, fields, batch_size=SQLITE_UPDATE_BATCH) or 0
    meta = model._meta
    quote = connection.ops.quote_name
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    casts = [column.db_type(connection) for column in columns]
    placeholder = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    assignments = ", ".join(f"{quote(column.column)} = v.{quote(column.column)}" for column in columns[1:])
    names = ", ".join(quote(column.column) for column in columns)
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_BATCH):
            batch = rows[start : start + UPDATE_BATCH]
            params = [
                column.get_db_prep_save(getattr(row, column.attname), connection) for row in batch for column in columns
            ]
            # Quoted names and placeholders only; the values travel as parameters.
            sql = (
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
                f"FROM (VALUES {', '.join([placeholder] * len(batch))}) AS v ({names}) "
                f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
            )
            cursor.execute(sql, params)
            written += cursor.rowcount
    return written


class IdSet:
    """Ids a job has seen, kept in a temporary table of the job's database connection (temporary_id_set)."""

    def __init__(self, connection, table: str):
        self.connection = connection
        self.table = table
        self.size = 0

    def add(self, ids) -> None:
        ids = list(ids)
        if not ids:
            return
        ignore = "INSERT OR IGNORE INTO" if self.connection.vendor == "sqlite" else "INSERT INTO"
        conflict = "" if self.connection.vendor == "sqlite" else " ON CONFLICT DO NOTHING"
        with self.connection.cursor() as cursor:
            cursor.executemany(f"{ignore} {self.table} (id) VALUES (%s){conflict}", [(value,) for value in ids])
        self.size += len(ids)

    def unseen(self, queryset, field: str):
        """The rows of `queryset` whose `field` is not in the set (an anti-join, not a NOT IN of every id)."""
        meta, quote = queryset.model._meta, self.connection.ops.quote_name
        column = f"{quote(meta.db_table)}.{quote(meta.get_field(field).column)}"
        # Names only (this module's table, the model's column), no input: nothing to inject.
        anti_join = f"NOT EXISTS (SELECT 1 FROM {self.table} seen WHERE seen.id = {column})"  # noqa: S608
        return queryset.extra(where=[anti_join])  # noqa: S610


@contextmanager
def temporary_id_set(*, max_length: int = 64):
    """A set of string ids that lives in the database for the length of a job, so the job remembers what it
    saw over many pages without holding it in memory, then acts on everything else in one statement."""
    from django.db import connection

    table = f"spotopt_ids_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {table} (id varchar({max_length}) PRIMARY KEY)")
    try:
        yield IdSet(connection, table)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def pk_batches(queryset, size: int):
    """The queryset's rows in primary-key order, `size` at a time: one query a batch, each starting after the
    last key of the one before, so nothing stays open between batches. (A server-side cursor, what
    `.iterator()` uses on PostgreSQL, dies when anything closes the connection meanwhile, as django-q's ORM
    broker does when a batch queues a task; and it would hold the job's snapshot for the whole run.)"""
    last = None
    ordered = queryset.order_by("pk")
    while True:
        batch = list((ordered if last is None else ordered.filter(pk__gt=last))[:size])
        if batch:
            yield batch
        if len(batch) < size:
            return
        last = batch[-1].pk
