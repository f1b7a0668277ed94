from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .models import Account, Team, TeamInvitation, User
from .teams import team_ensure


class NormalizedEmailMixin:
    # User.save() lowercases the email; doing it here first lets the form's unique check see the
    # stored value and report a duplicate as a form error instead of a database error.
    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


class UserCreationAdminForm(NormalizedEmailMixin, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email", "full_name", "role")


class UserChangeAdminForm(NormalizedEmailMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    # The custom user has no first/last name and no is_staff column (is_staff follows the role).
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("full_name", "email")}),
        ("Access", {"fields": ("role", "team", "is_active", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "full_name", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "created_at", "updated_at")
    list_display = (
        "username",
        "email",
        "full_name",
        "role",
        "team",
        "is_active",
        "is_superuser",
        "created_at",
        "last_login",
    )
    list_filter = ("role", "is_active", "is_superuser")
    search_fields = ("username", "email", "full_name", "team__name")
    list_select_related = ("team",)
    autocomplete_fields = ("team",)
    date_hierarchy = "created_at"
    ordering = ("username",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # A client added here is a customer of their own until a team invites them, as in createuser.
        if obj.role == "client" and obj.team_id is None:
            team_ensure(user=obj)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name", "members__username", "members__email")
    ordering = ("name",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(TeamInvitation)
class TeamInvitationAdmin(admin.ModelAdmin):
    """Invitations are made and accepted through the team page; here they can be looked at and withdrawn
    (deleted). The token's hash is never shown."""

    list_display = ("email", "team", "role", "status", "invited_by", "expires_at", "created_at")
    list_filter = ("status", "role")
    search_fields = ("email", "team__name")
    list_select_related = ("team", "invited_by")
    exclude = ("token_hash",)
    readonly_fields = ("team", "email", "role", "status", "invited_by", "accepted_by", "expires_at", "closed_at")

    def has_add_permission(self, request):
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "account_name",
        "account_id",
        "team",
        "user",
        "environment_type",
        "connection_method",
        "status",
        "has_access_keys",
        "region",
        "is_active",
        "created_at",
    )
    list_filter = ("status", "environment_type", "connection_method", "is_active", "region")
    search_fields = ("account_name", "account_id", "role_arn", "user__username", "user__email", "team__name")
    date_hierarchy = "created_at"
    ordering = ("account_name", "account_id")
    list_select_related = ("user", "team")
    autocomplete_fields = ("user", "team")
    # Encrypted credentials never reach a page, not even as ciphertext.
    exclude = ("access_key_id_encrypted", "secret_access_key_encrypted")
    fieldsets = (
        (None, {"fields": ("team", "user", "account_name", "account_id", "environment_type", "is_active")}),
        (
            "Connection",
            {"fields": ("status", "connection_method", "role_arn", "external_id", "has_access_keys")},
        ),
        ("Scanning", {"fields": ("region", "regions")}),
        ("Details", {"fields": ("account_metadata", "created_at", "updated_at")}),
    )
    # Status moves only through onboarding (its transition table); the external id is server-generated
    # and the connection method changes only by reconnecting.
    readonly_fields = (
        "status",
        "connection_method",
        "external_id",
        "has_access_keys",
        "created_at",
        "updated_at",
    )

    @admin.display(boolean=True, description="Has access keys")
    def has_access_keys(self, account):
        return account.has_access_keys

    # Accounts are created by onboarding, which generates the External ID and encrypts the keys.
    def has_add_permission(self, request):
        return False
