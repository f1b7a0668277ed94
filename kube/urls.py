"""Dashboard URLs of Kubernetes (included under /kube/ by spotopt/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.ClusterListView.as_view(), name="kube_cluster_list"),
    path("register/", views.ClusterRegisterView.as_view(), name="kube_cluster_register"),
    path("clusters/<uuid:pk>/", views.ClusterDetailView.as_view(), name="kube_cluster_detail"),
    path("clusters/<uuid:pk>/check/", views.ClusterCheckView.as_view(), name="kube_cluster_check"),
    path("clusters/<uuid:pk>/delete/", views.ClusterDeleteView.as_view(), name="kube_cluster_delete"),
    path("drains/", views.DrainListView.as_view(), name="kube_drain_list"),
    path("drains/<uuid:pk>/", views.DrainDetailView.as_view(), name="kube_drain_detail"),
]
