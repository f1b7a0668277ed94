from django.db import migrations

from spotopt.reporting_views import ACTIVE_INSTANCES, drop_sql


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0001_initial"),
        ("mlgov", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(ACTIVE_INSTANCES, reverse_sql=drop_sql("v_active_instances")),
    ]
