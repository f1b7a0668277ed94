from django.urls import path

from . import views

urlpatterns = [
    path("", views.SavingsView.as_view(), name="savings"),
    path("export.csv", views.SavingsExportView.as_view(), name="savings_export"),
]
