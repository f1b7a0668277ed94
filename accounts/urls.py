"""Dashboard URLs of the accounts app (included at the site root by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    # Sign-in
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    # Onboarding and account management
    path("accounts/", views.AccountListView.as_view(), name="account_list"),
    path("accounts/connect/", views.AccountConnectView.as_view(), name="account_connect"),
    path("accounts/<uuid:pk>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<uuid:pk>/verify/", views.AccountVerifyView.as_view(), name="account_verify"),
    path("accounts/<uuid:pk>/settings/", views.AccountUpdateView.as_view(), name="account_update"),
    path("accounts/<uuid:pk>/retry/", views.AccountRetryView.as_view(), name="account_retry"),
    path("accounts/<uuid:pk>/rediscover/", views.AccountRediscoverView.as_view(), name="account_rediscover"),
    path("accounts/<uuid:pk>/remove/", views.AccountDeleteView.as_view(), name="account_delete"),
]
