from django.db import migrations, models

from spotopt.reporting_views import around_views


class Migration(migrations.Migration):
    dependencies = [
        # v_recent_experiments reads mlgov_mlmodel: rebuilt around the change (SQLite rebuilds the table).
        ("mlgov", "0004_optimizer_execution"),
    ]

    operations = around_views(
        migrations.AddField(
            model_name="mlmodel",
            name="training_metrics",
            field=models.JSONField(blank=True, default=dict),
        ),
    )
