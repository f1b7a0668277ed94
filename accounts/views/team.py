"""The team page (members, open invitations, invite a colleague, rename) and the invitation link's page,
where a newcomer signs up or a signed-in person with the invited address joins."""

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from spotopt.errors import DomainError, NotFound, PermissionRefused
from spotopt.tenancy import CapabilityRequiredMixin, ObjectActionView

from .. import teams
from ..forms import InviteForm, SignUpForm, TeamRenameForm
from ..models import TeamInvitation
from ..roles import Capability, can
from ..selectors import open_invitations, team_members

TEAM_PAGE = "accounts/team.html"


def render_team(request, *, invite_form=None, rename_form=None, new_link=None, new_invitation=None, status=200):
    user = request.user
    manages = can(user, Capability.MANAGE_TEAM)
    context = {
        "title": user.team.name if user.team_id else "Team",
        "team": user.team,
        "members": team_members(user),
        "invitations": open_invitations(user) if manages else [],
        "can_manage": manages,
        "invite_form": invite_form or InviteForm(),
        "rename_form": rename_form or TeamRenameForm(initial={"name": user.team.name if user.team_id else ""}),
        "new_link": new_link,
        "new_invitation": new_invitation,
    }
    return render(request, TEAM_PAGE, context, status=status)


@method_decorator(never_cache, name="dispatch")
class TeamView(CapabilityRequiredMixin, View):
    required_capability = Capability.VIEW_TEAM
    capability_refusal = (
        "Teams are for customers. Operators (admin, lab) see every tenant by role; super_admins manage teams in "
        "the Django admin."
    )

    def get(self, request):
        return render_team(request)


class TeamManageView(CapabilityRequiredMixin, View):
    required_capability = Capability.MANAGE_TEAM
    capability_refusal = "Only the team's clients invite, remove and rename."

    def get(self, request):
        return redirect("team")


@method_decorator(never_cache, name="dispatch")  # the answer holds the link: no cache may keep it
class TeamInviteView(TeamManageView):
    """POST: invite a colleague. The page shows the link once (it is also emailed); only its hash is kept."""

    def post(self, request):
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation, link = teams.team_invitation_create(user=request.user, **form.cleaned_data)
            except PermissionRefused as refusal:
                raise PermissionDenied(refusal.message) from None
            except DomainError as error:
                form.add_domain_error(error)
            else:
                return render_team(request, new_link=link, new_invitation=invitation, status=201)
        return render_team(request, invite_form=form, status=400)


class TeamRenameView(TeamManageView):
    def post(self, request):
        form = TeamRenameForm(request.POST)
        if form.is_valid():
            try:
                teams.team_rename(user=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(request, "Team renamed.")
                return redirect("team")
        return render_team(request, rename_form=form, status=400)


class InvitationRevokeView(ObjectActionView):
    model = TeamInvitation
    required_capability = Capability.MANAGE_TEAM

    def detail_url(self, obj) -> str:
        return reverse("team")

    def act(self, request, invitation):
        teams.team_invitation_revoke(user=request.user, invitation=invitation)
        messages.success(request, f"The invitation of {invitation.email} is withdrawn; its link no longer works.")
        return redirect("team")


class MemberRemoveView(ObjectActionView):
    selector = team_members
    required_capability = Capability.MANAGE_TEAM

    def detail_url(self, obj) -> str:
        return reverse("team")

    def act(self, request, member):
        teams.team_member_remove(user=request.user, member=member)
        messages.success(
            request, f"{member.full_name or member.username} is no longer in the team and sees none of its accounts."
        )
        return redirect("team")


@method_decorator(never_cache, name="dispatch")
class InvitationAcceptView(View):
    """The link of an invitation. Whoever holds it may open it (the token is the secret), so the page names
    only the team and the role; it never shows other members or accounts."""

    template_name = "accounts/invitation.html"

    def _render(self, request, invitation=None, *, error=None, form=None, status=200):
        user = request.user
        context = {"title": "Join a team on spotopt", "invitation": invitation, "error": error}
        if invitation is not None and user.is_authenticated:
            context["refusal"] = teams.acceptance_refusal(invitation, user)
        elif invitation is not None:
            context["form"] = form or SignUpForm()
        return render(request, self.template_name, context, status=status)

    def _invitation(self, request, token):
        """(invitation, None, 200), or (None, why, status): 404 for a link that never was, 410 for one that
        no longer works (accepted, withdrawn, expired)."""
        try:
            return teams.team_invitation_for_token(token), None, 200
        except NotFound as error:
            return None, error.message, 404
        except DomainError as error:
            return None, error.message, 410

    def get(self, request, token):
        invitation, error, status = self._invitation(request, token)
        return self._render(request, invitation, error=error, status=status)

    def post(self, request, token):
        invitation, error, status = self._invitation(request, token)
        if invitation is None:
            return self._render(request, error=error, status=status)
        if request.user.is_authenticated:
            try:
                teams.team_invitation_accept(invitation=invitation, user=request.user)
            except DomainError as refusal:
                return self._render(request, invitation, error=refusal.message, status=409)
            messages.success(request, f"You joined {invitation.team.name}.")
            return redirect("account_list")  # the team's accounts, which the newcomer now shares
        form = SignUpForm(request.POST)
        if form.is_valid():
            data = {key: form.cleaned_data[key] for key in ("username", "full_name", "password")}
            try:
                user = teams.team_invitation_accept_signup(invitation=invitation, **data)
            except DomainError as problem:
                form.add_domain_error(problem)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to {invitation.team.name}.")
                return redirect("account_list")
        return self._render(request, invitation, form=form, status=400)
