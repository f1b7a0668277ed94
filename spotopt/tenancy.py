"""Tenant scoping and role checks of pages and API endpoints, applied once: the web half of tenancy
(spotopt.scoping is the model half, `Model.objects.for_user(user)`).

A view or viewset declares what it works on and, where it acts, the capability acting needs; the mixins
here do the rest, the same way everywhere:

    class AccountDetailView(TenantObjectMixin, View):
        selector = accounts_for                          # user -> queryset (or: model = Account)

    class AccountDeleteView(TenantObjectMixin, View):
        selector = accounts_for
        required_capability = Capability.MANAGE_ACCOUNTS

    class InstanceViewSet(TenantViewSet, mixins.ListModelMixin):
        selector = instances_for
        write_capability = Capability.USE_LAB

- the queryset is always the signed-in user's scope: another tenant's object is a 404, never a 403 and
  never data (`get_queryset`);
- an object is looked up among those first, and only then is the capability checked (403), so a refusal
  never tells an outsider that the object exists (`TenantObjectMixin.get_object`);
- API reads need a signed-in user, writes the viewset's `write_capability` (None: the service decides).

The rules themselves belong to the user model: `user.account_scope()` and `user.can(capability)`
(accounts.models.User), so this foundation imports no domain app.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .errors import DomainError, PermissionRefused
from .pagination import CURSOR_PARAM, InvalidCursor, capped_count, keyset_page

ROLE_REFUSAL = "Your role does not allow this."


class ScopedQuerysetMixin:
    """`get_queryset()` is the declared `selector(user)`, else `model.objects.for_user(user)`."""

    model = None
    # A plain function user -> queryset (read from the class, so it is not bound to the view).
    selector = None

    def get_queryset(self):
        selector = type(self).selector
        user = self.request.user
        return selector(user) if selector is not None else self.model.objects.for_user(user)


class CapabilityRequiredMixin(LoginRequiredMixin):
    """Pages that are not about one object (e.g. connect an account): sign-in required, then a role with
    `required_capability` (403 otherwise) before the view runs."""

    required_capability = None
    capability_refusal = ROLE_REFUSAL

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and self.required_capability
            and not request.user.can(self.required_capability)
        ):
            raise PermissionDenied(self.capability_refusal)
        return super().dispatch(request, *args, **kwargs)


@dataclass
class ListPage:
    """One page of a list page (keyset pagination, spotopt.pagination): its rows, links to the pages around
    it, and how many rows the list has (capped, or exact when the view knows it for free)."""

    rows: list
    count: int
    count_capped: bool
    next_url: str | None
    previous_url: str | None
    first_url: str | None

    @property
    def has_next(self) -> bool:
        return self.next_url is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_url is not None

    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def count_text(self) -> str:
        return f"{self.count:,}+" if self.count_capped else f"{self.count:,}"


class TenantScopedMixin(LoginRequiredMixin, ScopedQuerysetMixin):
    """Dashboard views over the user's scope. List views page with keyset pagination (`?cursor=`, never an
    OFFSET): a cursor the list did not give out shows the first page, not an error."""

    def list_count(self, queryset) -> tuple[int, bool]:
        """How many rows the list has: (count, capped). A view that already knows it (e.g. from a summary it
        computes anyway) says so here and saves the count query."""
        return capped_count(queryset)

    def _url(self, cursor: str | None) -> str:
        params = self.request.GET.copy()
        params.pop("page", None)
        params.pop(CURSOR_PARAM, None)
        if cursor:
            params[CURSOR_PARAM] = cursor
        return f"?{params.urlencode()}" if params else "?"

    def paginate_queryset(self, queryset, page_size):
        try:
            page = keyset_page(queryset, cursor=self.request.GET.get(CURSOR_PARAM), size=page_size)
        except InvalidCursor:
            page = keyset_page(queryset, cursor=None, size=page_size)
        count, capped = self.list_count(queryset)
        listed = ListPage(
            rows=page.rows,
            count=count,
            count_capped=capped,
            next_url=self._url(page.next_cursor) if page.has_next else None,
            previous_url=self._url(page.previous_cursor) if page.has_previous else None,
            first_url=self._url(None) if page.has_previous else None,
        )
        return listed, listed, page.rows, listed.has_other_pages()


class TenantObjectMixin(TenantScopedMixin):
    """Views of one object named by the URL's `pk`: the user's own object or 404, then the capability
    (`required_capability`, if any) or 403."""

    required_capability = None
    capability_refusal = ROLE_REFUSAL

    def get_object(self, queryset=None):
        found = get_object_or_404(self.get_queryset() if queryset is None else queryset, pk=self.kwargs["pk"])
        if self.required_capability and not self.request.user.can(self.required_capability):
            raise PermissionDenied(self.capability_refusal)
        return found


class CapabilityPermission(BasePermission):
    """API: reads need a signed-in user (scoping does the rest) and the view's `read_capability` if it has
    one; writes need its `write_capability` (None: the service called decides, e.g. the approval policy)."""

    message = ROLE_REFUSAL

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        reading = request.method in SAFE_METHODS
        capability = getattr(view, "read_capability" if reading else "write_capability", None)
        if capability is None:
            return True
        self.message = getattr(view, "read_refusal" if reading else "write_refusal", ROLE_REFUSAL)
        return user.can(capability)


class TenantViewSet(ScopedQuerysetMixin, viewsets.GenericViewSet):
    """The base of every API viewset: scoped queryset, object lookup among it (404), role check on writes."""

    permission_classes = [CapabilityPermission]
    read_capability = None
    read_refusal = ROLE_REFUSAL
    write_capability = None
    write_refusal = ROLE_REFUSAL


class ObjectActionView(TenantObjectMixin, View):
    """A POST that acts on one object and returns to its page (`detail_url_name`, or override
    `detail_url`); a GET just shows that page. `act(request, obj)` calls a service: a PermissionRefused
    becomes the 403 page, any other DomainError a message on the object's page (override `act` to show
    one on a form instead)."""

    detail_url_name = ""

    def detail_url(self, obj) -> str:
        return reverse(self.detail_url_name, args=[obj.pk])

    def get(self, request, *args, **kwargs):
        return redirect(self.detail_url(self.get_object()))

    def post(self, request, *args, **kwargs):
        obj = self.get_object()
        try:
            return self.act(request, obj)
        except PermissionRefused as error:
            raise PermissionDenied(error.message) from None
        except DomainError as error:
            messages.error(request, error.message)
            return redirect(self.detail_url(obj))

    def act(self, request, obj):
        raise NotImplementedError
