from django.db import migrations, models

from spotopt.reporting_views import around_views


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_team_required_invitations"),
        # The reporting views read accounts_account: they must exist to be rebuilt around the change
        # (the latest fleet migration, so the views are rebuilt on the instance table as it is now).
        ("fleet", "0008_instance_type_catalog"),
        ("mlgov", "0002_v_recent_experiments"),
    ]

    operations = around_views(
        migrations.AddField(
            model_name="account",
            name="allowed_instance_types",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="account",
            name="denied_instance_types",
            field=models.JSONField(blank=True, default=list),
        ),
    )
