"""Dashboard URLs of the accounts app (included at the site root by spotopt/urls.py)."""

from django.urls import path

from .views import account_detail, accounts, overview, signin, team

urlpatterns = [
    # Sign-in
    path("", signin.home, name="home"),
    path("login/", signin.SignInView.as_view(), name="login"),
    path("logout/", signin.SignOutView.as_view(), name="logout"),
    path("overview/", overview.OverviewView.as_view(), name="overview"),
    # Accounts
    path("accounts/", accounts.AccountListView.as_view(), name="account_list"),
    path("accounts/connect/", accounts.AccountConnectView.as_view(), name="account_connect"),
    path("accounts/<uuid:pk>/remove/", accounts.AccountDeleteView.as_view(), name="account_delete"),
    path("accounts/<uuid:pk>/", account_detail.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<uuid:pk>/verify/", account_detail.AccountVerifyView.as_view(), name="account_verify"),
    path("accounts/<uuid:pk>/keys/", account_detail.AccountConnectKeysView.as_view(), name="account_connect_keys"),
    path("accounts/<uuid:pk>/settings/", account_detail.AccountUpdateView.as_view(), name="account_update"),
    path("accounts/<uuid:pk>/retry/", account_detail.AccountRetryView.as_view(), name="account_retry"),
    path("accounts/<uuid:pk>/rediscover/", account_detail.AccountRediscoverView.as_view(), name="account_rediscover"),
    # Team
    path("team/", team.TeamView.as_view(), name="team"),
    path("team/invite/", team.TeamInviteView.as_view(), name="team_invite"),
    path("team/rename/", team.TeamRenameView.as_view(), name="team_rename"),
    path("team/invitations/<uuid:pk>/revoke/", team.InvitationRevokeView.as_view(), name="invitation_revoke"),
    path("team/members/<uuid:pk>/remove/", team.MemberRemoveView.as_view(), name="member_remove"),
    path("invitations/<str:token>/", team.InvitationAcceptView.as_view(), name="invitation_accept"),
]
