"""Forms of the accounts app."""

import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from spotopt.errors import DomainError

from . import cloudformation, services
from .choices import EnvironmentType, Role
from .models import MAX_INSTANCE_TYPE_PATTERNS, instance_type_patterns_clean
from .signin import INVALID_LOGIN_MESSAGE, canonical_username

# --- Sign-in ------------------------------------------------------------------------------------------


class _CaseInsensitiveSignInMixin:
    """Authenticate with the stored spelling of the username, so django-axes counts failures for "Alice"
    and "alice" together. The page still shows back what was typed (BoundField renders the raw input)."""

    def clean_username(self):
        return canonical_username(self.cleaned_data["username"])


class LoginForm(_CaseInsensitiveSignInMixin, AuthenticationForm):
    error_messages = {
        "invalid_login": INVALID_LOGIN_MESSAGE,
        "inactive": "This account is inactive. Ask an administrator to re-enable it.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.label_suffix = ""
        username, password = self.fields["username"], self.fields["password"]
        username.label = "Username"
        username.widget.attrs.update(
            {"autofocus": True, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        password.label = "Password"
        password.widget.attrs.update({"autocomplete": "current-password"})


class AdminLoginForm(_CaseInsensitiveSignInMixin, AdminAuthenticationForm):
    """The Django admin's login form (admin.site.login_form), with the same username handling."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        # The admin is for super admins only; say so rather than hint that the password was wrong.
        "invalid_login": "No active super admin account matches that username and password. "
        "Passwords are case-sensitive.",
    }


# --- Onboarding and account management ------------------------------------------------------------------
# The forms check shape (required, choices, lengths); the services decide everything else and raise a
# DomainError, which `add_domain_error` puts on the form: on the field it is about, else on the whole form.


class DomainErrorFormMixin:
    # DomainError codes of the services -> the field they are about (others go on the whole form).
    domain_error_fields: dict[str, str] = {}

    def add_domain_error(self, error) -> None:
        field = self.domain_error_fields.get(error.code)
        self.add_error(field if field in self.fields else None, error.message)


class _AccountFieldsForm(DomainErrorFormMixin, forms.Form):
    """Name, environment and regions to scan: shared by both connect forms and the settings form."""

    domain_error_fields = {
        "invalid_name": "account_name",
        "invalid_environment_type": "environment_type",
        "invalid_region": "regions",
    }

    account_name = forms.CharField(
        label="Account name",
        max_length=255,
        help_text="How this account appears in spotopt, e.g. “Payments production”.",
    )
    environment_type = forms.ChoiceField(
        label="Environment",
        choices=EnvironmentType.choices,
        initial=EnvironmentType.PROD,
        widget=forms.RadioSelect,
        help_text="Lab accounts are also visible to spotopt's R&D (Lab) users, for experiments.",
    )
    regions = forms.MultipleChoiceField(
        label="Regions to scan",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: only the home region is scanned.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_suffix = ""
        # From settings at request time (not import time), like the services' own check.
        region_choices = [(region, region) for region in settings.SPOTOPT_REGIONS]
        self.fields["regions"].choices = region_choices
        if "region" in self.fields:
            self.fields["region"].choices = region_choices
            self.fields["region"].initial = settings.AWS_DEFAULT_REGION


class _ConnectForm(_AccountFieldsForm):
    region = forms.ChoiceField(
        label="Home region",
        help_text="Where spotopt calls AWS first. It is scanned when no region is chosen below.",
    )


class RoleConnectForm(_ConnectForm):
    """Step 1 of the CloudFormation flow: what the pending account is called and where to scan."""

    field_order = ["account_name", "environment_type", "region", "regions"]


def _access_key_fields() -> dict:
    return {
        "access_key_id": forms.CharField(
            label="Access key ID",
            max_length=128,
            widget=forms.TextInput(
                attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none", "placeholder": "AKIA…"}
            ),
        ),
        "secret_access_key": forms.CharField(
            label="Secret access key",
            max_length=256,
            # render_value=False: after an error the field comes back empty, never with the secret in it.
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
            help_text="Checked with AWS STS, then stored encrypted. spotopt never shows it again.",
        ),
    }


class AccessKeysConnectForm(_ConnectForm):
    """Connect with an IAM user's access keys. The secret is never rendered back into the page."""

    field_order = ["access_key_id", "secret_access_key", "account_name", "environment_type", "region", "regions"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(_access_key_fields())
        self.order_fields(self.field_order)
        name = self.fields["account_name"]
        name.required = False
        name.help_text = "Optional. Without a name the account is called after its AWS account id."


class PendingKeysForm(DomainErrorFormMixin, forms.Form):
    """A pending CloudFormation account, connected with access keys instead (on the account's page)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "pending-keys-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields.update(_access_key_fields())


class VerifyRoleForm(DomainErrorFormMixin, forms.Form):
    """Step 3 of the CloudFormation flow: the Role ARN from the stack's Outputs tab."""

    domain_error_fields = {"invalid_role_arn": "role_arn", "no_role": "role_arn"}

    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
        help_text="The RoleArn output of the stack: CloudFormation console → your stack → Outputs.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_suffix = ""
        # The expected form, with AWS's documentation account id.
        self.fields["role_arn"].widget.attrs["placeholder"] = cloudformation.role_arn_for(
            "123456789012", cloudformation.role_name()
        )


def _instance_types_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_INSTANCE_TYPE_PATTERNS * 66,
        widget=forms.Textarea(
            attrs={"rows": 2, "spellcheck": "false", "autocapitalize": "none", "placeholder": "m5.*, c6i.large"}
        ),
        help_text=help_text,
    )


def _percent_field(label: str, *, low, high, message: str, **kwargs) -> forms.DecimalField:
    """A percent with at most one decimal (the service keeps shares with three)."""
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        max_digits=4,
        decimal_places=1,
        # Django fills in %(limit_value)s in these, so a percent sign is doubled.
        error_messages={"min_value": message.replace("%", "%%"), "max_value": message.replace("%", "%%")},
        **kwargs,
    )


def _percent(share) -> str | None:
    """0.125 -> "12.5", 0.2 -> "20"; None stays None."""
    if share is None:
        return None
    return format((Decimal(str(share)) * 100).normalize(), "f")


def _share_or(percent, empty):
    return empty if percent is None else percent / 100


class AccountSettingsForm(_AccountFieldsForm):
    """Rename, change the environment, choose the regions to scan, the instance types spotopt may use, the
    waste lifecycle and the optimizer's thresholds."""

    domain_error_fields = {
        **_AccountFieldsForm.domain_error_fields,
        "invalid_allowed_instance_types": "allowed_instance_types",
        "invalid_denied_instance_types": "denied_instance_types",
        "invalid_waste_grace_days": "waste_grace_days",
        "invalid_optimizer_min_saving": "optimizer_min_saving",
        "invalid_optimizer_max_risk": "optimizer_max_risk",
        "invalid_switch_max_group_share": "switch_max_group_share",
    }

    allowed_instance_types = _instance_types_field(
        "Instance types spotopt may move instances to",
        "Patterns separated by commas or spaces; * matches anything (m5.*). Empty: any compatible type.",
    )
    denied_instance_types = _instance_types_field(
        "Instance types spotopt never moves instances to",
        "Same patterns; a type that matches one is never used, even if it is allowed above.",
    )

    waste_grace_days = forms.IntegerField(
        label="Waste grace period (days)",
        required=False,  # empty: unchanged
        min_value=1,
        max_value=90,
        initial=7,
        help_text="Days between flagging an idle resource (tagged in AWS) and asking for its deletion.",
    )
    waste_final_snapshot = forms.BooleanField(
        label="Snapshot a volume before deleting it",
        required=False,
        initial=True,
        help_text="The final snapshot is kept, tagged spotopt:waste = keep.",
    )

    # The optimizer settings are percents here (shares in the service, the model and the API).
    optimizer_min_saving = _percent_field(
        "Least saving for a switch (% of the hourly price)",
        low=1,
        high=95,
        message="The least saving of a switch is 1% to 95% of the hourly price.",
    )
    optimizer_max_risk = _percent_field(
        "Highest interruption risk accepted (%)",
        low=Decimal("0.1"),
        high=50,
        message="The highest interruption risk accepted is 0.1% to 50%.",
    )
    allow_automatic_switches = forms.BooleanField(
        label="Switch production instances without an approval",
        required=False,
        initial=False,
        help_text="Off: every switch of a PROD account waits for an approval request. LAB accounts always "
        "switch on their own.",
    )
    switch_max_group_share = _percent_field(
        "Largest share of an Auto Scaling group switched at once (%)",
        low=1,
        high=100,
        message="The largest share of an Auto Scaling group switched at once is 1% to 100%.",
        initial=25,
        help_text="Planned and in-flight switches together; one member is replaced at a time. Empty: unchanged.",
    )

    kubernetes_dry_run = forms.BooleanField(
        label="Kubernetes dry run",
        required=False,
        initial=False,
        help_text="On: for this account's Kubernetes nodes spotopt records what a drain would do (taint, cordon, "
        "evictions) and writes nothing to the cluster.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The installation's defaults, from settings at request time (not import time).
        self.fields["optimizer_min_saving"].help_text = (
            "A switch must make the instance at least this much cheaper per hour. "
            f"Empty: the installation default, {_percent(settings.OPTIMIZER_MIN_SAVING)}%."
        )
        self.fields["optimizer_max_risk"].help_text = (
            "The model's predicted chance that AWS interrupts the instance in the Spot pool it would move to; "
            "riskier pools are not used. "
            f"Empty: the installation default, {_percent(settings.OPTIMIZER_MAX_RISK)}%."
        )

    @classmethod
    def for_account(cls, account):
        return cls(
            initial={
                "account_name": account.account_name,
                "environment_type": account.environment_type,
                "regions": account.regions_to_scan,
                "allowed_instance_types": ", ".join(account.allowed_instance_types or []),
                "denied_instance_types": ", ".join(account.denied_instance_types or []),
                "waste_grace_days": account.waste_grace_days,
                "waste_final_snapshot": account.waste_final_snapshot,
                "optimizer_min_saving": _percent(account.optimizer_min_saving),
                "optimizer_max_risk": _percent(account.optimizer_max_risk),
                "allow_automatic_switches": account.allow_automatic_switches,
                "switch_max_group_share": _percent(account.switch_max_group_share),
                "kubernetes_dry_run": account.kubernetes_dry_run,
            }
        )

    def _patterns(self, field: str) -> list[str]:
        try:
            return instance_type_patterns_clean(re.split(r"[\s,]+", self.cleaned_data.get(field) or ""), field=field)
        except DomainError as error:
            raise forms.ValidationError(error.message) from None

    def clean_allowed_instance_types(self):
        return self._patterns("allowed_instance_types")

    def clean_denied_instance_types(self):
        return self._patterns("denied_instance_types")

    # Percent -> the service's share. An emptied threshold goes back to the installation default; an
    # emptied group share is left as it is (None), like the grace period.
    def clean_optimizer_min_saving(self):
        return _share_or(self.cleaned_data.get("optimizer_min_saving"), services.INSTALLATION_DEFAULT)

    def clean_optimizer_max_risk(self):
        return _share_or(self.cleaned_data.get("optimizer_max_risk"), services.INSTALLATION_DEFAULT)

    def clean_switch_max_group_share(self):
        return _share_or(self.cleaned_data.get("switch_max_group_share"), None)


# --- Teams ------------------------------------------------------------------------------------------------


class InviteForm(DomainErrorFormMixin, forms.Form):
    domain_error_fields = {"invalid_role": "role", "already_member": "email"}

    email = forms.EmailField(label="Their email address", max_length=254)
    role = forms.ChoiceField(
        label="As",
        choices=[
            (Role.USER, "Read-only user: sees the team's accounts, fleet and approvals, changes nothing"),
            (Role.CLIENT, "Client: also connects and manages accounts, decides approvals and invites others"),
        ],
        initial=Role.USER,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "invite-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class TeamRenameForm(DomainErrorFormMixin, forms.Form):
    domain_error_fields = {"invalid_name": "name"}

    name = forms.CharField(label="Team name", max_length=255)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "team-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class SignUpForm(DomainErrorFormMixin, forms.Form):
    """Sign up through an invitation: the email address is the invitation's, the rest is the newcomer's."""

    domain_error_fields = {
        "invalid_username": "username",
        "username_taken": "username",
        "invalid_password": "password",
    }

    username = forms.CharField(
        label="Username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    full_name = forms.CharField(label="Your name", max_length=255, required=False)
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password, not all digits.",
    )
    password_again = forms.CharField(
        label="Password (again)", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "signup-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned
