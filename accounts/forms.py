"""Forms of the accounts app."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from . import cloudformation
from .auth import INVALID_LOGIN_MESSAGE, canonical_username
from .choices import EnvironmentType

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


class AccessKeysConnectForm(_ConnectForm):
    """Connect with an IAM user's access keys. The secret is never rendered back into the page."""

    field_order = ["access_key_id", "secret_access_key", "account_name", "environment_type", "region", "regions"]

    access_key_id = forms.CharField(
        label="Access key ID",
        max_length=128,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none", "placeholder": "AKIA…"}
        ),
    )
    secret_access_key = forms.CharField(
        label="Secret access key",
        max_length=256,
        # render_value=False: after an error the field comes back empty, never with the secret in it.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Checked with AWS STS, then stored encrypted. spotopt never shows it again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = self.fields["account_name"]
        name.required = False
        name.help_text = "Optional. Without a name the account is called after its AWS account id."


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


class AccountSettingsForm(_AccountFieldsForm):
    """Rename, change the environment, choose the regions to scan."""

    @classmethod
    def for_account(cls, account):
        return cls(
            initial={
                "account_name": account.account_name,
                "environment_type": account.environment_type,
                "regions": account.regions_to_scan,
            }
        )
