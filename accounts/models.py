import re
import uuid
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from spotopt import crypto
from spotopt.db import TimestampedModel, choices_check
from spotopt.errors import DomainError
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import AccountStatus, ConnectionMethod, EnvironmentType, InvitationStatus, Role
from .roles import Capability, account_scope, can


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        # Usernames are unique regardless of case (see the constraint), so sign-in ignores case too.
        return self.get(username__iexact=username)

    def _create_user(self, email, username, password, **extra):
        if not email:
            raise ValueError("A user needs an email address.")
        if not username:
            raise ValueError("A user needs a username.")
        user = self.model(email=self.normalize_email(email).lower(), username=username, **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email, username, password=None, **extra):
        extra.setdefault("role", Role.CLIENT)
        extra.setdefault("is_superuser", False)
        # A client is a customer of their own until invited into another team; a read-only user is
        # always somebody's colleague, so they join a team by invitation (or are given one).
        if extra["role"] == Role.CLIENT and extra.get("team") is None:
            extra["team"] = Team.objects.create(name=f"{extra.get('full_name') or username}'s team")
        return self._create_user(email, username, password, **extra)

    def create_superuser(self, email, username, password=None, **extra):
        extra["role"] = Role.SUPER_ADMIN
        extra["is_superuser"] = True
        return self._create_user(email, username, password, **extra)


class Team(TimestampedModel):
    """A customer: the people who share its AWS accounts. Clients and read-only users belong to one team
    and see exactly its accounts; operators (admin, super_admin, lab) see by role and need none."""

    name = models.CharField(max_length=255)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self):
        return self.name


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. The role decides what they may do (accounts/roles.py), the team which
    accounts a customer sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True, db_index=True)
    username = models.CharField(max_length=150, unique=True, db_index=True)
    full_name = models.CharField(max_length=255, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLIENT, db_index=True)
    # Removing a member from a team leaves the person without one: they see nothing until invited again.
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="members")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        constraints = [
            choices_check("role", Role, name="user_role_valid"),
            # Sign-in treats "Alice" and "alice" as the same person, so the database does too.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self):
        return self.username

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    @property
    def is_super_admin(self) -> bool:
        return self.is_active and (self.role == Role.SUPER_ADMIN or self.is_superuser)

    # Only super_admins (and Django superusers) get into the Django admin.
    @property
    def is_staff(self) -> bool:
        return self.is_super_admin

    # The two rules the web and model halves of tenancy ask the user for (spotopt.tenancy, spotopt.scoping).
    def can(self, capability) -> bool:
        return can(self, capability)

    def account_scope(self) -> dict | None:
        return account_scope(self)

    def has_perm(self, perm, obj=None):
        return self.is_super_admin or super().has_perm(perm, obj)

    def has_module_perms(self, app_label):
        return self.is_super_admin or super().has_module_perms(app_label)


ACCOUNT_STATUS_TRANSITIONS = TransitionTable(
    "Account status",
    AccountStatus,
    {
        AccountStatus.PENDING: {AccountStatus.CONNECTED},
        AccountStatus.CONNECTED: {AccountStatus.ACTIVE, AccountStatus.FAILED},
        AccountStatus.ACTIVE: set(),
        AccountStatus.FAILED: {AccountStatus.CONNECTED},
    },
)


# An instance-type pattern: what instance type names are made of (lower-case letters, digits, ".", "-") and
# "*" for any run of characters, fnmatch style: "m5.*", "*.metal", "c6i.large", "r*".
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z0-9.*-]{1,64}$")
MAX_INSTANCE_TYPE_PATTERNS = 100


def instance_type_patterns_clean(patterns, *, field: str) -> list[str]:
    """An account's allowed or denied instance types as stored: stripped, lower case, each once, in the
    given order. Raises DomainError (code "invalid_<field>") naming the first pattern that is not one."""
    if isinstance(patterns, str) or not isinstance(patterns, list | tuple):
        raise DomainError("A list of instance-type patterns is expected.", code=f"invalid_{field}")
    cleaned: list[str] = []
    for pattern in patterns:
        text = str(pattern).strip().lower()
        if not text:
            continue
        if not INSTANCE_TYPE_PATTERN.match(text):
            raise DomainError(
                f"'{str(pattern)[:70]}' is not an instance-type pattern: use letters, digits, '.', '-' and '*' "
                "(e.g. m5.*, c6i.large), at most 64 characters.",
                code=f"invalid_{field}",
            )
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_INSTANCE_TYPE_PATTERNS:
        raise DomainError(
            f"At most {MAX_INSTANCE_TYPE_PATTERNS} instance-type patterns; {len(cleaned)} were given.",
            code=f"invalid_{field}",
        )
    return cleaned


class AccountQuerySet(TenantQuerySet):
    account_path = ""

    def active(self):
        return self.filter(is_active=True)


class Account(TimestampedModel):
    """A customer's AWS account connected to the platform (IAM role with External ID, or access keys)."""

    # Who connected it (kept as its owner); the team decides who sees it.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="aws_accounts")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="aws_accounts")
    # The AWS account id once known; "pending-<uuid>" until the role has been verified.
    account_id = models.CharField(max_length=64, unique=True)
    account_name = models.CharField(max_length=255)
    environment_type = models.CharField(
        max_length=8, choices=EnvironmentType.choices, default=EnvironmentType.PROD, db_index=True
    )
    connection_method = models.CharField(max_length=16, choices=ConnectionMethod.choices)
    role_arn = models.CharField(max_length=2048, blank=True)
    # Generated by the server ("spot-optimizer-<uuid>"), never chosen by the customer.
    external_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    access_key_id_encrypted = models.TextField(blank=True)
    secret_access_key_encrypted = models.TextField(blank=True)
    region = models.CharField(max_length=32, default="us-east-1")
    regions = models.JSONField(default=list, blank=True, help_text="Regions to scan; empty means the home region.")
    # Instance-type patterns ("m5.*", "c6i.large", instance_type_patterns_clean) that spotopt may move this
    # account's instances to (empty: any type) and may never move them to (denied wins over allowed).
    allowed_instance_types = models.JSONField(default=list, blank=True)
    denied_instance_types = models.JSONField(default=list, blank=True)
    # Waste: days between flagging an idle resource (tagging it in AWS) and asking to delete it, and whether a
    # volume is snapshotted before it is deleted.
    waste_grace_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    waste_final_snapshot = models.BooleanField(default=True)
    # The optimizer: the least share of the hourly price a switch must save and the highest crash
    # probability it accepts (empty: the installation's OPTIMIZER_MIN_SAVING / OPTIMIZER_MAX_RISK), whether a
    # PROD account's switches run without an approval (LAB accounts' always do), and the largest share of an
    # Auto Scaling group that may be planned or in flight at once (one member is swapped at a time).
    optimizer_min_saving = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.95"))],
    )
    optimizer_max_risk = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("0.5"))],
    )
    allow_automatic_switches = models.BooleanField(default=False)
    # Kubernetes nodes: log what a drain would do (taint, cordon, evictions) without any write to the cluster.
    kubernetes_dry_run = models.BooleanField(default=False)
    switch_max_group_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.25"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1"))],
    )
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.PENDING, db_index=True
    )
    account_metadata = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["account_name", "account_id"]
        indexes = [models.Index(fields=["user", "status"]), models.Index(fields=["team", "status"])]
        constraints = [
            choices_check("environment_type", EnvironmentType, name="account_environment_type_valid"),
            choices_check("connection_method", ConnectionMethod, name="account_connection_method_valid"),
            choices_check("status", AccountStatus, name="account_status_valid"),
            models.CheckConstraint(
                condition=models.Q(waste_grace_days__gte=1, waste_grace_days__lte=90),
                name="account_waste_grace_days_range",
            ),
            models.CheckConstraint(
                condition=models.Q(optimizer_min_saving__isnull=True)
                | models.Q(optimizer_min_saving__gte=Decimal("0.01"), optimizer_min_saving__lte=Decimal("0.95")),
                name="account_optimizer_min_saving_range",
            ),
            models.CheckConstraint(
                condition=models.Q(optimizer_max_risk__isnull=True)
                | models.Q(optimizer_max_risk__gte=Decimal("0.001"), optimizer_max_risk__lte=Decimal("0.5")),
                name="account_optimizer_max_risk_range",
            ),
            models.CheckConstraint(
                condition=models.Q(switch_max_group_share__gte=Decimal("0.01"), switch_max_group_share__lte=1),
                name="account_switch_max_group_share_range",
            ),
        ]

    def __str__(self):
        return f"{self.account_name} ({self.account_id})"

    def save(self, *args, **kwargs):
        # Unless told otherwise, an account belongs to its owner's team (made for them if they have none).
        if self.team_id is None and self.user_id is not None:
            from .teams import team_ensure

            self.team = team_ensure(user=self.user)
        super().save(*args, **kwargs)

    @property
    def aws_account_id(self) -> str | None:
        """The AWS account id, or None while the row is a pending placeholder ("pending-…")."""
        return None if self.account_id.startswith("pending-") else self.account_id

    @property
    def regions_to_scan(self) -> list[str]:
        return list(self.regions) or [self.region]

    @property
    def last_error(self) -> dict | None:
        """Why the last attempt (verification, discovery) failed: {"message", "code", …}, never secrets."""
        return (self.account_metadata or {}).get("last_error")

    @property
    def last_discovered_at(self):
        finished = ((self.account_metadata or {}).get("discovery") or {}).get("finished_at")
        return parse_datetime(finished) if finished else None

    def move_to(self, status: str) -> None:
        transition(self, "status", ACCOUNT_STATUS_TRANSITIONS, status)

    # Secrets: stored encrypted, bound to this row and field; never rendered or logged.
    def _context(self, field: str) -> str:
        return f"accounts.Account:{self.pk}:{field}"

    def set_access_keys(self, access_key_id: str, secret_access_key: str) -> None:
        self.access_key_id_encrypted = crypto.encrypt(access_key_id, context=self._context("access_key_id"))
        self.secret_access_key_encrypted = crypto.encrypt(secret_access_key, context=self._context("secret_access_key"))

    def get_access_keys(self) -> tuple[str, str]:
        try:
            return (
                crypto.decrypt(self.access_key_id_encrypted, context=self._context("access_key_id")),
                crypto.decrypt(self.secret_access_key_encrypted, context=self._context("secret_access_key")),
            )
        except crypto.DecryptionError as exc:
            raise crypto.DecryptionError(
                f"The stored access keys of account '{self.account_name}' ({self.account_id}) cannot be "
                f"decrypted: {exc}. Check CREDENTIALS_ENCRYPTION_KEYS or reconnect the account."
            ) from None

    @property
    def has_access_keys(self) -> bool:
        return bool(self.access_key_id_encrypted)


INVITATION_STATUS_TRANSITIONS = TransitionTable(
    "Team invitation status",
    InvitationStatus,
    {
        InvitationStatus.PENDING: {InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.EXPIRED},
        InvitationStatus.ACCEPTED: set(),
        InvitationStatus.REVOKED: set(),
        InvitationStatus.EXPIRED: set(),
    },
)


class TeamInvitationQuerySet(models.QuerySet):
    def for_user(self, user):
        """A customer sees their own team's invitations; operators every team's (they have no team)."""
        if not can(user, Capability.VIEW_ALL_TENANTS):
            return self.filter(team_id=user.team_id) if user.is_authenticated and user.team_id else self.none()
        return self


class TeamInvitation(TimestampedModel):
    """An invitation to join a team, sent by email as a link that expires. Only a hash of the link's token
    is stored: whoever holds the link may accept it, so the token itself is never kept or logged."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING, db_index=True
    )
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations_sent"
    )
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations_accepted"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TeamInvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_check("status", InvitationStatus, name="invitation_status_valid"),
            # Teams invite customers only: fellow clients or read-only users.
            models.CheckConstraint(
                condition=models.Q(role__in=[Role.CLIENT, Role.USER]), name="invitation_role_customer"
            ),
            # One open invitation per address and team: inviting again replaces it.
            models.UniqueConstraint(
                Lower("email"),
                "team",
                condition=models.Q(status=InvitationStatus.PENDING),
                name="invitation_one_pending_per_email",
            ),
        ]

    def __str__(self):
        return f"{self.email} to {self.team} ({self.get_status_display()})"

    def move_to(self, status: str) -> None:
        transition(self, "status", INVITATION_STATUS_TRANSITIONS, status)
