import django.core.validators
from django.db import migrations, models

from spotopt.reporting_views import around_views


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_instance_type_rules"),
        # The reporting views read accounts_account: rebuilt around the change on the tables as they are now.
        ("fleet", "0008_instance_type_catalog"),
        ("mlgov", "0002_v_recent_experiments"),
    ]

    operations = around_views(
        migrations.AddField(
            model_name="account",
            name="waste_final_snapshot",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="account",
            name="waste_grace_days",
            field=models.PositiveSmallIntegerField(
                default=7,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(90),
                ],
            ),
        ),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("waste_grace_days__gte", 1), ("waste_grace_days__lte", 90)),
                name="account_waste_grace_days_range",
            ),
        ),
    )
