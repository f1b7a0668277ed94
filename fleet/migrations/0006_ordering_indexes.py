"""The descending orders as indexes: the tiebreak (instance id) now descends with the sort column, so NOT
NULL columns read their (column, instance_id) index backwards, and the two nullable ones (price, last
evaluation: NULLs last either way) get a descending index each on PostgreSQL (SQLite cannot index NULLS
LAST). Region gets the ordering index the other offered orders have."""

from django.db import migrations, models

DESCENDING = {
    "instance_by_price_desc": "hourly_price DESC NULLS LAST, instance_id DESC",
    "instance_by_evaluation_desc": "last_evaluation DESC NULLS LAST, instance_id DESC",
}


def descending_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS instance_by_price_desc")  # (price DESC, id ASC) of 0005
    for name, columns in DESCENDING.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON fleet_instance ({columns}) WHERE is_active")


def drop_descending_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in DESCENDING:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS instance_by_price_desc ON fleet_instance "
        "(hourly_price DESC NULLS LAST, instance_id) WHERE is_active"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0005_fleet_at_scale"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="instance",
            index=models.Index(
                condition=models.Q(("is_active", True)), fields=["region", "instance_id"], name="instance_by_region"
            ),
        ),
        migrations.RunPython(descending_indexes, drop_descending_indexes),
    ]
