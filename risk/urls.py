"""Dashboard URLs of the hive (included under /risk/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.PoolListView.as_view(), name="risk_pools"),
    path("pools/<uuid:pk>/lift/", views.PoolLiftView.as_view(), name="risk_pool_lift"),
    path("events/", views.EventListView.as_view(), name="risk_events"),
    path("held/", views.HeldEventListView.as_view(), name="risk_held"),
    path("held/<uuid:pk>/release/", views.HeldReleaseView.as_view(), name="risk_held_release"),
    path("held/<uuid:pk>/dismiss/", views.HeldDismissView.as_view(), name="risk_held_dismiss"),
    path("rejected/", views.RejectedListView.as_view(), name="risk_rejected"),
    path("accounts/<uuid:pk>/", views.AccountChannelView.as_view(), name="risk_account_channel"),
    path("accounts/<uuid:pk>/webhook-secret/", views.WebhookSecretRotateView.as_view(), name="risk_webhook_secret"),
]
