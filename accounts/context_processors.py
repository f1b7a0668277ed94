"""Template context for base.html: the main navigation by role, and who is signed in.

The navigation is computed from accounts.roles, so a page never shows a link its reader's role cannot use.
A section whose URL name is not defined (yet) is left out instead of breaking every page.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from .choices import Role
from .roles import Capability, can, effective_role


@dataclass(frozen=True)
class NavSection:
    label: str
    url_name: str
    # None: anyone signed in.
    capability: Capability | None
    description: str


NAV_SECTIONS: tuple[NavSection, ...] = (
    NavSection("Overview", "overview", Capability.VIEW_ACCOUNTS, "Savings, SLA, approvals and waste at a glance."),
    NavSection("Accounts", "account_list", Capability.VIEW_ACCOUNTS, "Connected AWS accounts and their status."),
    NavSection("Savings", "savings", Capability.VIEW_ACCOUNTS, "What spotopt saved, per account and month."),
    NavSection("Fleet", "instance_list", Capability.VIEW_ACCOUNTS, "EC2 instances, Spot moves and their history."),
    NavSection(
        "Kubernetes", "kube_cluster_list", Capability.VIEW_ACCOUNTS, "Clusters spotopt reaches and its node drains."
    ),
    NavSection("Approvals", "approval_list", Capability.VIEW_ACCOUNTS, "Risky actions waiting for a decision."),
    NavSection("Waste", "waste_list", Capability.VIEW_ACCOUNTS, "Idle and unused resources, and their clean-up."),
    NavSection("Risk", "risk_pools", Capability.VIEW_ACCOUNTS, "Spot capacity pools and interruption history."),
    NavSection("SLA", "sla_dashboard", Capability.VIEW_ACCOUNTS, "Downtime caused by the platform, per month."),
    NavSection("Team", "team", Capability.VIEW_TEAM, "The people who share your AWS accounts."),
    NavSection("Lab", "lab_home", Capability.USE_LAB, "Experiments and models on LAB accounts."),
    NavSection("Admin", "admin:index", Capability.USE_DJANGO_ADMIN, "Users, models and every table (Django admin)."),
    NavSection("API docs", "api_docs", None, "The REST API (OpenAPI), with a console to try it."),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    description: str
    current: bool = False


def _allowed(user, section: NavSection) -> bool:
    if section.capability is None:
        return effective_role(user) is not None
    return can(user, section.capability)


def nav_items_for(request) -> list[NavItem]:
    """The sections the signed-in user may open, in menu order; the one holding the current page (the
    longest URL that prefixes the path) is marked current."""
    user = getattr(request, "user", None)
    if user is None or effective_role(user) is None:
        return []
    found = []
    for section in NAV_SECTIONS:
        if not _allowed(user, section):
            continue
        try:
            found.append((section, reverse(section.url_name)))
        except NoReverseMatch:
            continue  # that page does not exist (yet)
    path = request.path
    matches = [url for _, url in found if path == url or (url != "/" and path.startswith(url))]
    current = max(matches, key=len, default=None)
    return [NavItem(s.label, url, s.description, current=url == current) for s, url in found]


def navigation(request):
    """`nav_items` (list of NavItem) and `nav_user` ({"name", "role"}, None when signed out)."""
    user = getattr(request, "user", None)
    role = effective_role(user) if user is not None else None
    if role is None:
        return {"nav_items": [], "nav_user": None}
    return {
        "nav_items": nav_items_for(request),
        "nav_user": {"name": user.full_name or user.username, "role": Role(role).label},
    }
