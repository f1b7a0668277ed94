"""On PostgreSQL, reject UPDATE and DELETE on risk_globalriskevent even when issued as raw SQL.

The ORM refuses them too (risk.models.AppendOnlyQuerySet). TRUNCATE is left to operators (and to the
test runner's flush). SQLite has no such trigger: its test flush deletes rows one by one.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION risk_globalriskevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'risk_globalriskevent is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER globalriskevent_append_only
    BEFORE UPDATE OR DELETE ON risk_globalriskevent
    FOR EACH ROW EXECUTE FUNCTION risk_globalriskevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS globalriskevent_append_only ON risk_globalriskevent;
DROP FUNCTION IF EXISTS risk_globalriskevent_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
