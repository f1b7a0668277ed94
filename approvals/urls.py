"""Dashboard URLs of the approval gate (included under /approvals/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.ApprovalRequestListView.as_view(), name="approval_list"),
    path("<uuid:pk>/", views.ApprovalRequestDetailView.as_view(), name="approval_detail"),
    path("<uuid:pk>/approve/", views.ApprovalApproveView.as_view(), name="approval_approve"),
    path("<uuid:pk>/reject/", views.ApprovalRejectView.as_view(), name="approval_reject"),
    path("<uuid:pk>/retry/", views.ApprovalRetryView.as_view(), name="approval_retry"),
]
