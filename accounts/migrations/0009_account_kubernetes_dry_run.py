from django.db import migrations, models

from spotopt.reporting_views import around_views


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_optimizer_execution"),
        # The reporting views read accounts_account: rebuilt around the change on the tables as they are now.
        ("fleet", "0010_optimizer_execution"),
        ("mlgov", "0005_training_metrics"),
    ]

    operations = around_views(
        migrations.AddField(
            model_name="account",
            name="kubernetes_dry_run",
            field=models.BooleanField(default=False),
        ),
    )
