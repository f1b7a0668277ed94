from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import auth
from accounts.forms import AdminLoginForm
from ops.metrics import metrics

from . import views

# Same username handling as the sign-in page (case-insensitive, one django-axes counter per person).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("", include("accounts.urls")),
    path("fleet/", include("fleet.urls")),
    path("approvals/", include("approvals.urls")),
    path("risk/", include("risk.urls")),
    path("sla/", include("sla.urls")),
    path("waste/", include("waste.urls")),
    path("kube/", include("kube.urls")),
    path("savings/", include("savings.urls")),
    path("lab/", include("mlgov.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    # Prometheus scrapes (ops.metrics; METRICS_TOKEN protects it, off without one).
    path("metrics", metrics, name="metrics"),
    # JWT for API clients: obtain (throttled by django-axes), refresh (rotating), blacklist (sign out).
    path("api/v1/auth/token/", auth.TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/v1/auth/token/refresh/", auth.TokenRefreshView.as_view(), name="token_refresh"),
    path("api/v1/auth/token/blacklist/", auth.TokenBlacklistView.as_view(), name="token_blacklist"),
    path("api/v1/", include("spotopt.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
]

# The product's own error pages, and JSON on API paths (spotopt.views).
handler400 = "spotopt.views.bad_request"
handler403 = "spotopt.views.permission_denied"
handler404 = "spotopt.views.page_not_found"
handler500 = "spotopt.views.server_error"
