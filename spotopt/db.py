"""Small helpers for models: database-enforced enum and money rules, timestamps, read-only models."""

import uuid

from django.db import models


def choices_check(field: str, choices, *, name: str, nullable: bool = False) -> models.CheckConstraint:
    """A CHECK constraint that keeps `field` inside its TextChoices, held by the database itself."""
    condition = models.Q(**{f"{field}__in": choices.values})
    if nullable:
        condition |= models.Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=condition, name=name)


def non_negative(field: str, *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": 0}) | models.Q(**{f"{field}__isnull": True}), name=name
    )


class UUIDModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(UUIDModel):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ReadOnlyError(Exception):
    pass


class ReadOnlyModel(models.Model):
    """Base for unmanaged models over database views: they can be read, never written."""

    class Meta:
        abstract = True
        managed = False

    def save(self, *args, **kwargs):
        raise ReadOnlyError(f"{type(self).__name__} is a read-only reporting view.")

    def delete(self, *args, **kwargs):
        raise ReadOnlyError(f"{type(self).__name__} is a read-only reporting view.")


class AuditRefsModel(TimestampedModel):
    """Audit rows (approvals, downtime) outlive the account and instance they name: the foreign keys are
    SET_NULL and the AWS account id and EC2 instance id are kept as text."""

    aws_account_ref = models.CharField(max_length=64, blank=True, help_text="AWS account id when recorded.")
    instance_ref = models.CharField(max_length=32, blank=True, help_text="EC2 instance id when recorded.")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        # Follow the links while they exist; once they are gone (SET_NULL) the last values stay.
        if self.account_id:
            self.aws_account_ref = self.account.account_id
        if self.instance_id:
            self.instance_ref = self.instance.instance_id
        super().save(*args, **kwargs)
