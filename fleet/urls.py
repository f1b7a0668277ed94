"""Dashboard URLs of the fleet (included under /fleet/ by spotopt/urls.py)."""

from django.urls import path

from mlgov import views as mlgov_views

from . import views

urlpatterns = [
    path("", views.InstanceListView.as_view(), name="instance_list"),
    path("instances/<uuid:pk>/", views.InstanceDetailView.as_view(), name="instance_detail"),
    path("instances/<uuid:pk>/lab/", views.InstanceLabUpdateView.as_view(), name="instance_lab_update"),
    # The savings preview of one account (shown on its page), made now.
    path("accounts/<uuid:pk>/savings-preview/", views.AccountSavingsPreviewView.as_view(), name="savings_preview"),
    # The optimizer's evaluations of the user's instances (mlgov owns the log).
    path("experiments/", mlgov_views.ExperimentListView.as_view(), name="experiment_list"),
    path("experiments/export.csv", mlgov_views.ExperimentExportView.as_view(), name="experiment_export"),
    path("experiments/<uuid:pk>/", mlgov_views.ExperimentDetailView.as_view(), name="experiment_detail"),
]
