"""The role matrix, written out: a change to accounts/roles.py must change this table too."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.choices import Role
from accounts.roles import Capability, can, capabilities_of

C = Capability
Y, N = True, False

# fmt: off
EXPECTED = {
    C.USE_DJANGO_ADMIN:         dict(super_admin=Y, admin=N, client=N, user=N, lab=N),
    C.MANAGE_USERS:             dict(super_admin=Y, admin=N, client=N, user=N, lab=N),
    C.MANAGE_PRODUCTION_MODELS: dict(super_admin=Y, admin=N, client=N, user=N, lab=N),
    C.VIEW_ALL_TENANTS:         dict(super_admin=Y, admin=Y, client=N, user=N, lab=N),
    C.DECIDE_APPROVALS:         dict(super_admin=Y, admin=Y, client=Y, user=N, lab=N),
    C.VIEW_ACCOUNTS:            dict(super_admin=Y, admin=Y, client=Y, user=Y, lab=Y),
    C.CONNECT_ACCOUNTS:         dict(super_admin=Y, admin=Y, client=Y, user=N, lab=N),
    C.MANAGE_ACCOUNTS:          dict(super_admin=Y, admin=Y, client=Y, user=N, lab=N),
    C.USE_LAB:                  dict(super_admin=Y, admin=Y, client=N, user=N, lab=Y),
    C.VIEW_LAB_ACCOUNTS:        dict(super_admin=Y, admin=Y, client=N, user=N, lab=Y),
    C.VIEW_TEAM:                dict(super_admin=N, admin=N, client=Y, user=Y, lab=N),
    C.MANAGE_TEAM:              dict(super_admin=N, admin=N, client=Y, user=N, lab=N),
    C.MANAGE_HIVE:              dict(super_admin=Y, admin=N, client=N, user=N, lab=N),
    C.MANAGE_WASTE:             dict(super_admin=Y, admin=Y, client=Y, user=N, lab=N),
}
# fmt: on


@pytest.mark.django_db
def test_role_matrix(make_user):
    # The table covers every capability and every role, no more and no less.
    assert set(EXPECTED) == set(Capability)
    assert all(set(row) == set(Role.values) for row in EXPECTED.values())

    users = {role: make_user(role) for role in Role.values}
    for capability, row in EXPECTED.items():
        for role, allowed in row.items():
            assert can(users[role], capability) is allowed, f"{role} / {capability}: expected {allowed}"
    for role, user in users.items():
        assert capabilities_of(user) == {cap for cap, row in EXPECTED.items() if row[role]}, role

    # A Django superuser counts as super_admin whatever the role column says.
    superuser_client = make_user(Role.CLIENT, is_superuser=True)
    # Every capability but the customers' team ones (super_admins belong to no team).
    customer_only = {C.VIEW_TEAM, C.MANAGE_TEAM}
    assert (
        capabilities_of(superuser_client) == capabilities_of(users[Role.SUPER_ADMIN]) == set(Capability) - customer_only
    )

    # Inactive users and anonymous visitors can do nothing.
    inactive_super_admin = make_user(Role.SUPER_ADMIN, is_active=False)
    for nobody in (inactive_super_admin, make_user(Role.CLIENT, is_active=False), AnonymousUser(), None):
        assert capabilities_of(nobody) == frozenset()
        assert not any(can(nobody, capability) for capability in Capability)
