"""Teams: the people of one customer, who share its AWS accounts.

A client invites colleagues by email, as fellow clients or read-only users: `team_invitation_create` makes
an invitation whose link (a random token, of which only a hash is stored) expires after
settings.TEAM_INVITATION_DAYS. Whoever opens the link signs up (`team_invitation_accept_signup`) or, signed
in with the invited address, joins (`team_invitation_accept`). A client removes a member
(`team_member_remove`): that person keeps their sign-in but sees nothing until invited again. Accounts
stay with the team whoever of its members connected them.

Invitation status moves PENDING -> ACCEPTED | REVOKED | EXPIRED (INVITATION_STATUS_TRANSITIONS).
"""

import hashlib
import logging
import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from spotopt.errors import Conflict, DomainError, NotFound, PermissionRefused

from .choices import InvitationStatus, Role
from .models import Team, TeamInvitation, User
from .roles import Capability, can

logger = logging.getLogger(__name__)

INVITABLE_ROLES = (Role.USER, Role.CLIENT)
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def team_name_for(user: User) -> str:
    return f"{user.full_name or user.username}'s team"


def team_ensure(*, user: User) -> Team:
    """The user's team, made on first need (an operator who connects an account owns it through one)."""
    if user.team_id:
        return user.team
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.team_id is None:
            locked.team = Team.objects.create(name=team_name_for(user))
            locked.save(update_fields=["team", "updated_at"])
    user.team = locked.team
    return user.team


def _require_manager(user: User) -> Team:
    if not can(user, Capability.MANAGE_TEAM):
        raise PermissionRefused("Only the team's clients invite and remove members.")
    if user.team_id is None:
        raise DomainError("You do not belong to a team.", code="no_team")
    return user.team


@transaction.atomic
def team_rename(*, user: User, name: str) -> Team:
    team = _require_manager(user)
    name = (name or "").strip()
    # One line: the name goes into the invitations' subject line, where a line break stops the email.
    if not name or len(name) > 255 or any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        raise DomainError("A team name is one line of 1 to 255 characters.", code="invalid_name")
    team.name = name
    team.save(update_fields=["name", "updated_at"])
    return team


def invitation_link(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('invitation_accept', args=[token])}"


def team_invitation_create(*, user: User, email: str, role: str) -> tuple[TeamInvitation, str]:
    """Invite `email` to the user's team as `role`; returns the invitation and its link (shown once, and
    emailed after commit). Inviting an address again replaces its open invitation."""
    team = _require_manager(user)
    email = (email or "").strip().lower()
    if role not in INVITABLE_ROLES:
        raise DomainError("Invite colleagues as read-only users or as clients.", code="invalid_role")
    member = User.objects.filter(email__iexact=email).first()
    if member is not None and member.team_id == team.pk:
        raise Conflict(f"{email} is already a member of {team.name}.", code="already_member")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        # One invitation of the team at a time: a second one for the same address (a double click) waits,
        # then replaces the first instead of breaking the one-pending-invitation constraint. (NO KEY: rows
        # that merely point at the team, like a new account, do not wait for it.)
        Team.objects.select_for_update(no_key=True).filter(pk=team.pk).first()
        for old in TeamInvitation.objects.select_for_update().filter(
            team=team, email__iexact=email, status=InvitationStatus.PENDING
        ):
            _close(old, InvitationStatus.REVOKED, now)
        invitation = TeamInvitation.objects.create(
            team=team,
            email=email,
            role=role,
            token_hash=token_hash(token),
            invited_by=user,
            expires_at=now + timedelta(days=settings.TEAM_INVITATION_DAYS),
        )
        link = invitation_link(token)
        transaction.on_commit(lambda: _send_invitation(invitation, link))
    logger.info("team %s: invitation %s created by user %s", team.pk, invitation.pk, user.pk)
    return invitation, link


def _send_invitation(invitation: TeamInvitation, link: str) -> None:
    inviter = invitation.invited_by
    who = (inviter.full_name or inviter.username) if inviter else "A colleague"
    body = (
        f"{who} invited you to join {invitation.team.name} on spotopt as a "
        f"{Role(invitation.role).label.lower()}.\n\n"
        f"Accept the invitation here (the link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{link}\n"
    )
    try:
        subject = " ".join(f"[spotopt] Join {invitation.team.name}".split())  # one line, whatever the name holds
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    except Exception:  # the inviter has the link on the page; the invitation itself stands
        logger.exception("team invitation %s: the email could not be sent", invitation.pk)


def _close(invitation: TeamInvitation, status: str, now, *, accepted_by: User | None = None) -> None:
    invitation.move_to(status)
    invitation.closed_at = now
    fields = ["status", "closed_at", "updated_at"]
    if accepted_by is not None:
        invitation.accepted_by = accepted_by
        fields.append("accepted_by")
    invitation.save(update_fields=fields)


@transaction.atomic
def team_invitation_revoke(*, user: User, invitation: TeamInvitation) -> TeamInvitation:
    team = _require_manager(user)
    invitation = TeamInvitation.objects.select_for_update().filter(pk=invitation.pk, team=team).first()
    if invitation is None:
        raise NotFound("No such invitation in your team.")
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(f"This invitation is already {invitation.get_status_display().lower()}.", code="not_pending")
    _close(invitation, InvitationStatus.REVOKED, timezone.now())
    return invitation


def team_invitation_for_token(token: str) -> TeamInvitation:
    """The open invitation behind a link, or a DomainError that says why the link no longer works."""
    invitation = (
        TeamInvitation.objects.select_related("team", "invited_by").filter(token_hash=token_hash(token or "")).first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check that you copied the whole link.")
    if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= timezone.now():
        with transaction.atomic():
            _close(
                TeamInvitation.objects.select_for_update().get(pk=invitation.pk),
                InvitationStatus.EXPIRED,
                timezone.now(),
            )
        invitation.status = InvitationStatus.EXPIRED
    if invitation.status != InvitationStatus.PENDING:
        inviter = invitation.invited_by.username if invitation.invited_by else "the team"
        reasons = {
            InvitationStatus.ACCEPTED: "This invitation was already accepted. Sign in instead.",
            InvitationStatus.REVOKED: f"This invitation was withdrawn. Ask {inviter} for a new one.",
            InvitationStatus.EXPIRED: f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            f"Ask {inviter} for a new one.",
        }
        raise Conflict(reasons[invitation.status], code=f"invitation_{invitation.status}")
    return invitation


def _lock_open(invitation: TeamInvitation) -> TeamInvitation:
    locked = TeamInvitation.objects.select_for_update().select_related("team").get(pk=invitation.pk)
    if locked.status != InvitationStatus.PENDING or locked.expires_at <= timezone.now():
        raise Conflict("This invitation is no longer open.", code="invitation_closed")
    return locked


def _accept(invitation: TeamInvitation, member: User) -> None:
    member.team = invitation.team
    member.role = invitation.role
    member.save(update_fields=["team", "role", "updated_at"])
    _close(invitation, InvitationStatus.ACCEPTED, timezone.now(), accepted_by=member)
    logger.info("team %s: user %s joined (invitation %s)", invitation.team_id, member.pk, invitation.pk)


def acceptance_refusal(invitation: TeamInvitation, user: User) -> str | None:
    """Why a signed-in `user` may not accept `invitation`, or None when they may."""
    if user.email.lower() != invitation.email.lower():
        return (
            f"This invitation is for {invitation.email}, and you are signed in as {user.email}. Sign out, then "
            "open the link again to accept it with the invited address."
        )
    if user.role not in INVITABLE_ROLES or user.is_superuser:
        return "Operator accounts (admin, lab) see every tenant by role and do not join a customer's team."
    if user.team_id and user.team_id != invitation.team_id:
        others = User.objects.filter(team_id=user.team_id).exclude(pk=user.pk).exists()
        if others or user.team.aws_accounts.exists():
            return (
                f"You already belong to {user.team.name}. A person belongs to one team: ask its clients to remove "
                "you first."
            )
    if user.team_id == invitation.team_id:
        return f"You are already a member of {invitation.team.name}."
    return None


@transaction.atomic
def team_invitation_accept(*, invitation: TeamInvitation, user: User) -> User:
    """A signed-in person with the invited address joins the team (with the invitation's role)."""
    invitation = _lock_open(invitation)
    refusal = acceptance_refusal(invitation, user)
    if refusal:
        raise PermissionRefused(refusal)
    _accept(invitation, User.objects.select_for_update().get(pk=user.pk))
    user.refresh_from_db()
    return user


def team_invitation_accept_signup(*, invitation: TeamInvitation, username: str, full_name: str, password: str) -> User:
    """Somebody new signs up through the link: a user with the invited address, role and team."""
    username, full_name = (username or "").strip(), (full_name or "").strip()
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise Conflict(
            f"{invitation.email} already has a spotopt sign-in: sign in, then open the link again.", code="email_taken"
        )
    if not username:
        raise DomainError("Choose a username.", code="invalid_username")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"The username '{username}' is taken; choose another.", code="username_taken")
    try:
        validate_password(password, user=User(username=username, email=invitation.email, full_name=full_name))
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), code="invalid_password") from None
    try:
        with transaction.atomic():
            locked = _lock_open(invitation)
            user = User.objects.create_user(
                invitation.email, username, password, role=locked.role, full_name=full_name, team=locked.team
            )
            _accept(locked, user)
    except IntegrityError:
        raise Conflict("That username or email was just taken; choose another.", code="username_taken") from None
    except ValidationError as exc:  # what the user model itself refuses (length, a name taken meanwhile)
        raise DomainError(" ".join(exc.messages), code="invalid_username") from None
    return user


@transaction.atomic
def team_member_remove(*, user: User, member: User) -> User:
    """Take `member` out of the user's team: they keep their sign-in and see nothing until invited again."""
    team = _require_manager(user)
    if member.pk == user.pk:
        raise DomainError("You cannot remove yourself; another client of the team can.", code="remove_self")
    # Both rows, in one order: two clients removing each other at once are served one after the other, so
    # the team keeps one of them.
    rows = User.objects.select_for_update(no_key=True).filter(pk__in=[user.pk, member.pk]).order_by("pk")
    locked = {row.pk: row for row in rows}
    if user.pk not in locked or locked[user.pk].team_id != team.pk:
        raise PermissionRefused("You are no longer a member of this team.")
    member = locked.get(member.pk)
    if member is None or member.team_id != team.pk:
        raise NotFound("No such member in your team.")
    member.team = None
    member.save(update_fields=["team", "updated_at"])
    # What they sent in the team's name goes with them: no way back in through an invitation of their own.
    now = timezone.now()
    for invitation in TeamInvitation.objects.select_for_update().filter(
        team=team, invited_by=member, status=InvitationStatus.PENDING
    ):
        _close(invitation, InvitationStatus.REVOKED, now)
    logger.info("team %s: user %s removed by user %s", team.pk, member.pk, user.pk)
    return member
