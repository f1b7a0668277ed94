"""SQL of the reporting views (created by migrations, portable between PostgreSQL and SQLite).

A later migration that changes a column these views read must drop the view first and create it again
afterwards (PostgreSQL refuses to alter a column a view depends on): call `drop_sql` / `create_sql`.
"""

ACTIVE_INSTANCES = """
CREATE VIEW v_active_instances AS
SELECT
    i.id AS id,
    i.instance_id AS instance_id,
    i.instance_type AS instance_type,
    i.availability_zone AS availability_zone,
    i.region AS region,
    i.lifecycle AS lifecycle,
    i.pipeline_mode AS pipeline_mode,
    i.is_shadow_mode AS is_shadow_mode,
    i.auth_status AS auth_status,
    i.orchestrator_type AS orchestrator_type,
    i.last_evaluation AS last_evaluation,
    a.id AS account_id,
    a.account_id AS aws_account_id,
    a.account_name AS account_name,
    a.environment_type AS environment_type,
    a.user_id AS owner_id,
    i.assigned_model_version AS assigned_model_version,
    m.name AS model_name,
    m.version AS model_version,
    m.status AS model_status
FROM fleet_instance i
JOIN accounts_account a ON a.id = i.account_id
-- The model that scores the instance: the newest one with its assigned version, else the production model.
LEFT JOIN mlgov_mlmodel m ON m.id = COALESCE(
    (SELECT m2.id FROM mlgov_mlmodel m2
      WHERE i.assigned_model_version <> '' AND m2.version = i.assigned_model_version
      ORDER BY m2.uploaded_at DESC LIMIT 1),
    (SELECT m3.id FROM mlgov_mlmodel m3 WHERE m3.is_active_prod = TRUE LIMIT 1)
)
WHERE i.is_active = TRUE AND a.is_active = TRUE
"""

RECENT_EXPERIMENTS = """
CREATE VIEW v_recent_experiments AS
SELECT
    e.id AS id,
    e.execution_time AS execution_time,
    e.decision AS decision,
    e.decision_reason AS decision_reason,
    e.pipeline_mode AS pipeline_mode,
    e.is_shadow_run AS is_shadow_run,
    e.prediction_score AS prediction_score,
    e.selected_instance_type AS selected_instance_type,
    e.selected_availability_zone AS selected_availability_zone,
    e.old_spot_price AS old_spot_price,
    e.new_spot_price AS new_spot_price,
    e.projected_hourly_savings AS projected_hourly_savings,
    e.execution_duration_ms AS execution_duration_ms,
    e.error_message AS error_message,
    i.id AS instance_id,
    i.instance_id AS instance_id_str,
    i.instance_type AS instance_type,
    i.availability_zone AS availability_zone,
    i.region AS region,
    a.id AS account_id,
    a.account_id AS aws_account_id,
    a.account_name AS account_name,
    a.user_id AS owner_id,
    m.name AS model_name,
    m.version AS model_version
FROM mlgov_experimentlog e
JOIN fleet_instance i ON i.id = e.instance_id
JOIN accounts_account a ON a.id = i.account_id
LEFT JOIN mlgov_mlmodel m ON m.id = e.model_id
ORDER BY e.execution_time DESC
LIMIT 1000
"""


def drop_sql(view_name: str) -> str:
    return f"DROP VIEW IF EXISTS {view_name}"


VIEWS = (("v_active_instances", ACTIVE_INSTANCES), ("v_recent_experiments", RECENT_EXPERIMENTS))


def around_views(*operations) -> list:
    """Migration operations that alter a table the reporting views read, between dropping the views and
    creating them again (SQLite rebuilds a table to alter it, and neither database lets a view's table go)."""
    from django.db import migrations

    drop = [migrations.RunSQL(drop_sql(name), reverse_sql=sql) for name, sql in VIEWS]
    create = [migrations.RunSQL(sql, reverse_sql=drop_sql(name)) for name, sql in reversed(VIEWS)]
    return [*drop, *operations, *create]
