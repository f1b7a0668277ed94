from django.db import migrations, models

from spotopt.reporting_views import around_views


class Migration(migrations.Migration):

    dependencies = [
        ('fleet', '0003_instance_hourly_price'),
    ]

    operations = [
        *around_views(
            migrations.AddConstraint(
                model_name='instance',
                constraint=models.CheckConstraint(condition=models.Q(('price_source__in', ['on_demand_list', 'spot_market', 'unknown'])), name='instance_price_source_valid'),
            ),
            migrations.AddConstraint(
                model_name='instance',
                constraint=models.CheckConstraint(condition=models.Q(('hourly_price__gte', 0), ('hourly_price__isnull', True), _connector='OR'), name='instance_hourly_price_non_negative'),
            ),
            migrations.AddConstraint(
                model_name='instance',
                constraint=models.CheckConstraint(condition=models.Q(models.Q(('hourly_price__isnull', True), ('price_source', 'unknown')), models.Q(('hourly_price__isnull', False), models.Q(('price_source', 'unknown'), _negated=True)), _connector='OR'), name='instance_price_has_source'),
            ),
        ),
    ]
