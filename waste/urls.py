"""Dashboard URLs of waste (included under /waste/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.WasteListView.as_view(), name="waste_list"),
    path("export.csv", views.WasteExportView.as_view(), name="waste_export"),
    path("actions/", views.WasteBulkActionView.as_view(), name="waste_bulk_action"),
    path("scan/", views.WasteScanView.as_view(), name="waste_scan"),
]
