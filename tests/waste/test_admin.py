"""Admin for waste resources."""

import itertools
from decimal import Decimal

from django.urls import reverse

from tests.helpers import changelist_query_count
from waste.choices import ResourceType, WasteStatus
from waste.models import WasteResource

WASTE_CHANGELIST = reverse("admin:waste_wasteresource_changelist")
_resource_numbers = itertools.count(1)


def make_waste(account, **overrides):
    fields = {
        "resource_type": ResourceType.EBS_VOLUME,
        "resource_id": f"vol-{next(_resource_numbers):017x}",
        "region": "us-east-1",
        "monthly_cost": Decimal("8.0000"),
    }
    fields.update(overrides)
    return WasteResource.objects.create(account=account, **fields)


def test_waste_changelist_shows_resources_and_cost(client, super_admin, client_user, make_account):
    make_waste(
        make_account(client_user, account_name="Data lake"),
        resource_type=ResourceType.ELASTIC_IP,
        resource_id="eipalloc-0123456789abcdef0",
        monthly_cost=Decimal("3.6500"),
    )
    client.force_login(super_admin)
    response = client.get(WASTE_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "eipalloc-0123456789abcdef0" in content
    assert "Data lake" in content
    assert "3.6500" in content
    assert '<td class="field-resource_type">Elastic IP</td>' in content


def test_waste_search_by_resource_id(client, super_admin, client_user, make_account):
    account = make_account(client_user)
    make_waste(account, resource_id="snap-0wanted0000000000")
    make_waste(account, resource_id="snap-0other00000000000")
    client.force_login(super_admin)
    content = client.get(WASTE_CHANGELIST, {"q": "snap-0wanted"}).content.decode()
    assert "snap-0wanted0000000000" in content
    assert "snap-0other00000000000" not in content


def test_waste_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account):
    client.force_login(super_admin)
    for _ in range(2):
        make_waste(make_account(make_user()))
    few = changelist_query_count(client, WASTE_CHANGELIST)
    for _ in range(8):
        make_waste(make_account(make_user()))
    assert changelist_query_count(client, WASTE_CHANGELIST) == few


def test_waste_status_and_its_dates_are_read_only(client, super_admin, client_user, make_account):
    resource = make_waste(make_account(client_user), status=WasteStatus.FLAGGED)
    client.force_login(super_admin)
    response = client.get(reverse("admin:waste_wasteresource_change", args=[resource.pk]))
    assert response.status_code == 200
    editable = set(response.context["adminform"].form.fields)
    assert {"status", "scheduled_deletion_date", "deleted_at", "detected_at"}.isdisjoint(editable)
    assert "Flagged" in response.content.decode()


def test_waste_change_form_cannot_move_the_status(client, super_admin, client_user, make_account):
    account = make_account(client_user)
    resource = make_waste(account, status=WasteStatus.DETECTED)
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:waste_wasteresource_change", args=[resource.pk]),
        {
            "account": account.pk,
            "resource_type": resource.resource_type,
            "resource_id": resource.resource_id,
            "region": resource.region,
            "monthly_cost": "9.5000",
            "currency": "USD",
            "days_unused": "40",
            "status": WasteStatus.DELETED,
            "resource_metadata": "{}",
            "reason": "Unattached for 40 days",
        },
    )
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.monthly_cost == Decimal("9.5000")
    assert resource.status == WasteStatus.DETECTED
