"""Tenant rows are scoped by the reader's account ids (spotopt.scoping): read once per user object, read
again after an account changes, and never a row of another team or of an account moved away."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import EnvironmentType, Role
from fleet.models import Instance

pytestmark = pytest.mark.django_db


def test_the_ids_are_read_once_per_user_object(client_user, make_account, make_instance):
    make_instance(make_account(client_user))
    with CaptureQueriesContext(connection) as first:
        assert Instance.objects.for_user(client_user).count() == 1
    with CaptureQueriesContext(connection) as second:
        assert Instance.objects.for_user(client_user).count() == 1
    assert len(first) == 2 and len(second) == 1  # the account ids, then the count; then the count alone


def test_a_new_account_is_seen_by_the_same_user_object(client_user, make_account, make_instance):
    make_instance(make_account(client_user))
    assert Instance.objects.for_user(client_user).count() == 1
    make_instance(make_account(client_user))
    assert Instance.objects.for_user(client_user).count() == 2


def test_another_team_and_a_moved_or_deleted_account_are_not_seen(
    client_user, other_client, make_account, make_instance
):
    mine, theirs = make_account(client_user), make_account(other_client)
    make_instance(mine)
    make_instance(theirs)
    assert set(Instance.objects.for_user(client_user).values_list("account", flat=True)) == {mine.pk}
    mine.team = other_client.team
    mine.save()
    assert not Instance.objects.for_user(client_user).exists()
    theirs.delete()
    assert set(Instance.objects.for_user(other_client).values_list("account", flat=True)) == {mine.pk}


def test_a_lab_reader_sees_the_lab_accounts_of_every_team(make_user, client_user, make_account, make_instance):
    lab = make_user(Role.LAB)
    lab_instance = make_instance(make_account(client_user, environment_type=EnvironmentType.LAB))
    make_instance(make_account(client_user))
    assert list(Instance.objects.for_user(lab)) == [lab_instance]


def test_a_team_without_accounts_sees_nothing(client_user):
    assert list(Instance.objects.for_user(client_user)) == []
