"""/api/v1/: every app registers its viewsets on one router."""

from rest_framework.routers import DefaultRouter

from accounts import api as accounts_api
from approvals import api as approvals_api
from fleet import api as fleet_api

router = DefaultRouter()
accounts_api.register(router)
approvals_api.register(router)
fleet_api.register(router)

urlpatterns = router.urls
