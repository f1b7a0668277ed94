from django.db import models


class AwsApiError(models.Model):
    """AWS API calls that failed, counted per service, operation and error code by every process (web,
    workers, listener) into this one table, so /metrics reports all of them after any restart."""

    service = models.CharField(max_length=64)
    operation = models.CharField(max_length=128)
    code = models.CharField(max_length=128)
    count = models.PositiveBigIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["service", "operation", "code"]
        verbose_name = "AWS API error"
        constraints = [models.UniqueConstraint(fields=["service", "operation", "code"], name="aws_api_error_once")]

    def __str__(self):
        return f"{self.service}.{self.operation} {self.code} x{self.count}"
