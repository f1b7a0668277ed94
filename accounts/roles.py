"""The role matrix: which role may do what. One table, used by every page, endpoint and service.

Roles: super_admin (everything: the Django admin, users, production models), admin (every tenant's
operations and approvals), client (their team's AWS accounts: connect, rename, remove, see everything
under them; invites colleagues), user (read-only on their team's accounts), lab (the Lab pages and
LAB-environment accounts).

`account_scope` is the other half of the matrix: which accounts a role sees (spotopt.scoping applies it).
"""

from enum import StrEnum

from .choices import EnvironmentType, Role


class Capability(StrEnum):
    USE_DJANGO_ADMIN = "use_django_admin"
    MANAGE_USERS = "manage_users"
    MANAGE_PRODUCTION_MODELS = "manage_production_models"
    VIEW_ALL_TENANTS = "view_all_tenants"
    DECIDE_APPROVALS = "decide_approvals"
    VIEW_ACCOUNTS = "view_accounts"
    CONNECT_ACCOUNTS = "connect_accounts"
    MANAGE_ACCOUNTS = "manage_accounts"  # rename, environment, regions, remove, retry
    USE_LAB = "use_lab"
    VIEW_LAB_ACCOUNTS = "view_lab_accounts"
    VIEW_TEAM = "view_team"
    MANAGE_TEAM = "manage_team"  # invite colleagues, remove members, rename the team
    MANAGE_HIVE = "manage_hive"  # lift a poisoned pool, release or dismiss held interruption events
    MANAGE_WASTE = "manage_waste"  # scan now, flag, schedule and exempt idle resources


_ALL = frozenset(Role)

ROLE_MATRIX: dict[Capability, frozenset[str]] = {
    Capability.USE_DJANGO_ADMIN: frozenset({Role.SUPER_ADMIN}),
    Capability.MANAGE_USERS: frozenset({Role.SUPER_ADMIN}),
    Capability.MANAGE_PRODUCTION_MODELS: frozenset({Role.SUPER_ADMIN}),
    Capability.VIEW_ALL_TENANTS: frozenset({Role.SUPER_ADMIN, Role.ADMIN}),
    # Clients decide only on their own accounts and only up to MEDIUM risk (approvals.policy).
    Capability.DECIDE_APPROVALS: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.CLIENT}),
    Capability.VIEW_ACCOUNTS: _ALL,
    Capability.CONNECT_ACCOUNTS: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.CLIENT}),
    Capability.MANAGE_ACCOUNTS: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.CLIENT}),
    Capability.USE_LAB: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.LAB}),
    Capability.VIEW_LAB_ACCOUNTS: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.LAB}),
    # Teams are customers' (operators see every tenant by role and belong to none).
    Capability.VIEW_TEAM: frozenset({Role.CLIENT, Role.USER}),
    Capability.MANAGE_TEAM: frozenset({Role.CLIENT}),
    # The hive is every tenant's shared memory: only the platform's own super_admins overrule it.
    Capability.MANAGE_HIVE: frozenset({Role.SUPER_ADMIN}),
    # Waste of an account is acted on by whoever manages the account (the deletion itself needs an approval).
    Capability.MANAGE_WASTE: frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.CLIENT}),
}


def effective_role(user) -> str | None:
    """A Django superuser counts as super_admin whatever their role column says."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    return Role.SUPER_ADMIN if user.is_superuser else user.role


def can(user, capability: Capability) -> bool:
    role = effective_role(user)
    return role is not None and role in ROLE_MATRIX[capability]


def capabilities_of(user) -> frozenset[Capability]:
    role = effective_role(user)
    return frozenset(cap for cap, roles in ROLE_MATRIX.items() if role in roles)


def account_scope(user) -> dict | None:
    """The Account lookups `user` may see: {} every tenant (admins), the LAB environment (lab), their
    team's accounts (client, user), or None: nothing (signed out, inactive, or a customer without a team)."""
    role = effective_role(user)
    if role is None:
        return None
    if role in (Role.SUPER_ADMIN, Role.ADMIN):
        return {}
    if role == Role.LAB:
        return {"environment_type": EnvironmentType.LAB}
    return {"team_id": user.team_id} if user.team_id else None
