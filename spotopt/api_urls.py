"""/api/v1/: every app registers its viewsets on one router."""

from django.urls import path

from accounts import api as accounts_api
from approvals import api as approvals_api
from fleet import api as fleet_api
from kube import api as kube_api
from mlgov import api as mlgov_api
from risk import api as risk_api
from savings import api as savings_api
from sla import api as sla_api
from waste import api as waste_api

from .api import ApiRouter

router = ApiRouter()
accounts_api.register(router)
approvals_api.register(router)
fleet_api.register(router)
kube_api.register(router)
mlgov_api.register(router)
risk_api.register(router)
savings_api.register(router)
sla_api.register(router)
waste_api.register(router)

urlpatterns = [
    # A single object per user (their team), so not a router resource.
    path("team/", accounts_api.team_view, name="team-detail"),
    # One summary per user (of the downtime they may see), so not a router resource either.
    path("sla/summary/", sla_api.SlaSummaryView.as_view(), name="sla-summary"),
    path("waste/summary/", waste_api.WasteSummaryView.as_view(), name="waste-summary"),
    path("savings/summary/", savings_api.SavingsSummaryView.as_view(), name="savings-summary"),
    # One preview per account (fleet.preview), kept on the account.
    path("accounts/<uuid:pk>/savings-preview/", fleet_api.SavingsPreviewView.as_view(), name="account-savings-preview"),
    *router.urls,
]
