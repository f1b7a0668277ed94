"""Shared admin building blocks."""


class ViewOnlyAdminMixin:
    """For data nobody edits by hand: append-only events and reporting views."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
