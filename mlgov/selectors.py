"""Reads of the models under governance: platform-wide (not tenant data), for the roles that use the Lab."""

from accounts.roles import Capability, can

from .models import MLModel, ModelMove


def models_for(user):
    if not can(user, Capability.USE_LAB):
        return MLModel.objects.none()
    return MLModel.objects.select_related("uploaded_by").order_by("-uploaded_at", "id")


def moves_of(model):
    return ModelMove.objects.filter(model=model).order_by("-at", "-id")
