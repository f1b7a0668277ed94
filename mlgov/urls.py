"""The Lab's pages (included under /lab/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.LabHomeView.as_view(), name="lab_home"),
    path("models/upload/", views.ModelUploadView.as_view(), name="lab_model_upload"),
    path("models/<uuid:pk>/", views.ModelDetailView.as_view(), name="lab_model_detail"),
    path("models/<uuid:pk>/move/", views.ModelMoveView.as_view(), name="lab_model_move"),
    path("models/<uuid:pk>/activate/", views.ModelActivateView.as_view(), name="lab_model_activate"),
]
