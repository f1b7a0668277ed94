"""System checks an operator reads (`manage.py check`, `check --deploy`, and the admin's index page): what
stops customers from onboarding. Tagged "platform"."""

import re

from django.conf import settings
from django.core.checks import Error, register

from . import cloudformation

PLATFORM_TAG = "platform"


@register(PLATFORM_TAG)
def check_onboarding_settings(app_configs, **kwargs):
    """The onboarding settings as written (no AWS call: this runs before every command)."""
    errors = []
    principal = settings.PLATFORM_AWS_PRINCIPAL_ARN
    if principal and not re.fullmatch(cloudformation.PRINCIPAL_ARN_PATTERN, principal):
        errors.append(
            Error(
                f"PLATFORM_AWS_PRINCIPAL_ARN '{principal}' is not an IAM role or user ARN.",
                hint="Set it to the IAM role the platform runs as: arn:aws:iam::<account>:role/<name>.",
                id="spotopt.E001",
            )
        )
    name = settings.CLOUDFORMATION_ROLE_NAME
    if not (
        len(name or "") <= cloudformation.ROLE_NAME_MAX_LENGTH
        and re.fullmatch(cloudformation.ROLE_NAME_PATTERN, name or "")
    ):
        errors.append(
            Error(
                f"CLOUDFORMATION_ROLE_NAME '{name}' is not a valid IAM role name.",
                hint="1 to 64 characters of letters, digits and +=,.@-_",
                id="spotopt.E002",
            )
        )
    return errors


@register(PLATFORM_TAG, deploy=True)
def check_platform_identity(app_configs, **kwargs):
    """`check --deploy`: ask STS who the platform is, as the onboarding page will."""
    if settings.PLATFORM_AWS_PRINCIPAL_ARN:
        return []  # the settings check above covers it
    return [
        Error(
            problem,
            hint="Customers cannot connect accounts with a CloudFormation role until it is fixed.",
            id="spotopt.E003",
        )
        for problem in cloudformation.platform_setup_problems()
    ]
