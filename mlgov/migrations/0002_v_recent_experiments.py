from django.db import migrations

from spotopt.reporting_views import RECENT_EXPERIMENTS, drop_sql


class Migration(migrations.Migration):
    dependencies = [
        ("mlgov", "0001_initial"),
        ("fleet", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(RECENT_EXPERIMENTS, reverse_sql=drop_sql("v_recent_experiments")),
    ]
