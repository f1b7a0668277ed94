"""spotopt/ is the foundation the domain apps stand on: it imports none of them (URL wiring aside), so the
apps can import it freely and it never grows domain knowledge. Its hooks into the apps go the other way
(user.account_scope() and user.can() for tenancy, register_badges() for presentation, the "platform"
system checks for the admin)."""

import ast
from pathlib import Path

from django.conf import settings

FOUNDATION = Path(settings.BASE_DIR) / "spotopt"
URL_WIRING = {"urls.py", "api_urls.py"}
DOMAIN_APPS = {"accounts", "fleet", "mlgov", "waste", "risk", "approvals", "sla", "demo"}


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_foundation_imports_no_domain_app_except_to_wire_urls():
    offenders = {
        str(path.relative_to(FOUNDATION)): sorted(imported_top_level_modules(path) & DOMAIN_APPS)
        for path in FOUNDATION.rglob("*.py")
        if path.name not in URL_WIRING and "migrations" not in path.parts
    }
    assert {name: apps for name, apps in offenders.items() if apps} == {}


def test_every_domain_app_is_installed():
    # The list above must follow INSTALLED_APPS, or a new app could slip past the rule.
    installed = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    assert installed >= DOMAIN_APPS
