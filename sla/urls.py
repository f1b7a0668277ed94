"""Dashboard URLs of the SLA (included under /sla/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [path("", views.SlaDashboardView.as_view(), name="sla_dashboard")]
