"""Dashboard URLs of the accounts app (included at the site root by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    # Sign-in
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
]
