"""Admin for instances and the active-instances report view."""

from django.urls import reverse

from fleet.choices import AuthStatus
from fleet.models import Instance
from tests.helpers import changelist_query_count

INSTANCE_CHANGELIST = reverse("admin:fleet_instance_changelist")
ACTIVE_CHANGELIST = reverse("admin:fleet_activeinstanceview_changelist")


def test_instance_changelist_shows_instances_with_their_account(
    client, super_admin, client_user, make_account, make_instance
):
    account = make_account(client_user, account_name="Checkout prod")
    make_instance(account, instance_id="i-0123456789abcdef0", instance_type="c6g.xlarge")
    client.force_login(super_admin)
    response = client.get(INSTANCE_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "i-0123456789abcdef0" in content
    assert "c6g.xlarge" in content
    assert "Checkout prod" in content


def test_instance_search_by_instance_id(client, super_admin, client_user, make_account, make_instance):
    account = make_account(client_user)
    make_instance(account, instance_id="i-0aaaaaaaaaaaaaaaa")
    make_instance(account, instance_id="i-0bbbbbbbbbbbbbbbb")
    client.force_login(super_admin)
    content = client.get(INSTANCE_CHANGELIST, {"q": "i-0aaaa"}).content.decode()
    assert "i-0aaaaaaaaaaaaaaaa" in content
    assert "i-0bbbbbbbbbbbbbbbb" not in content


def test_instance_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account, make_instance):
    client.force_login(super_admin)
    for _ in range(2):
        make_instance(make_account(make_user()))
    few = changelist_query_count(client, INSTANCE_CHANGELIST)
    for _ in range(8):
        make_instance(make_account(make_user()))
    assert changelist_query_count(client, INSTANCE_CHANGELIST) == few


def test_instance_auth_status_cannot_be_edited(client, super_admin, client_user, make_account, make_instance):
    instance = make_instance(make_account(client_user), auth_status=AuthStatus.FLAGGED)
    client.force_login(super_admin)
    response = client.get(reverse("admin:fleet_instance_change", args=[instance.pk]))
    assert response.status_code == 200
    editable = set(response.context["adminform"].form.fields)
    assert {"auth_status", "flagged_at", "last_evaluation"}.isdisjoint(editable)
    assert "Flagged" in response.content.decode()
    assert instance.pool_id in response.content.decode()


def test_instance_added_in_the_admin_starts_unauthorized(client, super_admin, client_user, make_account):
    account = make_account(client_user)
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:fleet_instance_add"),
        {
            "account": account.pk,
            "instance_id": "i-0cccccccccccccccc",
            "instance_type": "m5.large",
            "availability_zone": "us-east-1a",
            "region": "us-east-1",
            "lifecycle": "spot",
            "pipeline_mode": "CLUSTER",
            "orchestrator_type": "STANDALONE",
            "auth_status": AuthStatus.AUTHORIZED,
            "cluster_membership": "{}",
            "instance_metadata": "{}",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert Instance.objects.get(instance_id="i-0cccccccccccccccc").auth_status == AuthStatus.UNAUTHORIZED


# --- Active instances (database view) -----------------------------------------------------------------


def test_active_instance_view_lists_active_instances_only(
    client, super_admin, client_user, make_account, make_instance
):
    account = make_account(client_user, account_name="Search prod")
    make_instance(account, instance_id="i-0active000000000")
    make_instance(account, instance_id="i-0retired00000000", is_active=False)
    client.force_login(super_admin)
    response = client.get(ACTIVE_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "i-0active000000000" in content
    assert "Search prod" in content
    assert "i-0retired00000000" not in content


def test_active_instance_view_search_by_account_name(client, super_admin, client_user, make_account, make_instance):
    make_instance(make_account(client_user, account_name="Alpha"), instance_id="i-0alpha0000000000")
    make_instance(make_account(client_user, account_name="Beta"), instance_id="i-0beta00000000000")
    client.force_login(super_admin)
    content = client.get(ACTIVE_CHANGELIST, {"q": "Alpha"}).content.decode()
    assert "i-0alpha0000000000" in content
    assert "i-0beta00000000000" not in content


def test_active_instance_view_queries_do_not_grow_with_rows(
    client, super_admin, make_user, make_account, make_instance
):
    client.force_login(super_admin)
    for _ in range(2):
        make_instance(make_account(make_user()))
    few = changelist_query_count(client, ACTIVE_CHANGELIST)
    for _ in range(8):
        make_instance(make_account(make_user()))
    assert changelist_query_count(client, ACTIVE_CHANGELIST) == few


def test_active_instance_view_is_view_only(client, super_admin, client_user, make_account, make_instance):
    instance = make_instance(make_account(client_user))
    client.force_login(super_admin)
    change_url = reverse("admin:fleet_activeinstanceview_change", args=[instance.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert instance.instance_id in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change_url, {}).status_code == 403
    assert client.get(reverse("admin:fleet_activeinstanceview_delete", args=[instance.pk])).status_code == 403
    assert client.get(reverse("admin:fleet_activeinstanceview_add")).status_code == 403
