"""Dashboard URLs of the fleet (included under /fleet/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.InstanceListView.as_view(), name="instance_list"),
    path("instances/<uuid:pk>/", views.InstanceDetailView.as_view(), name="instance_detail"),
    path("instances/<uuid:pk>/lab/", views.InstanceLabUpdateView.as_view(), name="instance_lab_update"),
]
