"""How waste looks on its page: badge tones, the last scans, and the chart of monthly waste by type (an SVG
drawn here: no script, no CDN)."""

from decimal import Decimal

from django.db.models.fields.json import KeyTransform
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from accounts.selectors import accounts_for
from spotopt.presentation import register_badges

from .choices import DeletionOutcome, ResourceType, WasteStatus
from .models import WasteResource
from .services import SCANNABLE

register_badges(
    WasteResource,
    {
        "status": {
            WasteStatus.DETECTED: "warn",
            WasteStatus.FLAGGED: "warn",
            WasteStatus.SCHEDULED_DELETE: "error",
            WasteStatus.DELETED: "ok",
            WasteStatus.RESOLVED: "",
            WasteStatus.EXEMPT: "info",
        },
        "resource_type": {kind: "" for kind in ResourceType},
        "outcome": {
            DeletionOutcome.NONE: "",
            DeletionOutcome.DELETED: "ok",
            DeletionOutcome.SKIPPED: "info",
            DeletionOutcome.FAILED: "error",
        },
    },
)


def scans_of(user) -> list[dict]:
    """Each connected account's last waste scan: when it finished, what it found, whether one is running."""
    rows = (
        accounts_for(user)
        .filter(status__in=SCANNABLE)
        .annotate(scan=KeyTransform("waste_scan", "account_metadata"))
        .values("id", "account_name", "scan")
        .order_by("account_name", "id")
    )
    scans = []
    for row in rows:
        scan = row["scan"] or {}
        scans.append(
            {
                "account_id": row["id"],
                "account_name": row["account_name"],
                "state": scan.get("state", "never"),
                "finished_at": parse_datetime(scan["finished_at"]) if scan.get("finished_at") else None,
                "regions_done": scan.get("regions_done", 0),
                "regions_total": scan.get("regions_total", 0),
                "errors": {r: v["error"] for r, v in (scan.get("regions") or {}).items() if v.get("error")},
            }
        )
    return scans


WIDTH, BAR_H, GAP, LABEL_W = 640, 26, 10, 130


def by_type_chart(by_type: list[dict]) -> str:
    """One horizontal bar per resource type: its monthly waste, labelled with the amount and the count."""
    peak = max([float(t["monthly_cost"]) for t in by_type] + [1.0])
    plot_w = WIDTH - LABEL_W - 120
    rows = []
    for index, kind in enumerate(by_type):
        y = index * (BAR_H + GAP)
        width = plot_w * float(kind["monthly_cost"]) / peak
        amount = f"${Decimal(kind['monthly_cost']):,.2f}/month · {kind['count']}"
        rows.append(
            (
                y + BAR_H * 0.7,
                kind["label"],
                LABEL_W,
                y,
                f"{width:.1f}",
                BAR_H,
                f"{kind['label']}: {amount}",
                f"{LABEL_W + width + 8:.1f}",
                y + BAR_H * 0.7,
                amount,
            )
        )
    height = len(by_type) * (BAR_H + GAP)
    return format_html(
        '<svg class="waste-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="waste-chart-title">'
        '<title id="waste-chart-title">Monthly waste by resource type</title>{}</svg>',
        WIDTH,
        height,
        format_html_join(
            "",
            '<text x="0" y="{}" class="waste-chart__label">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" class="waste-chart__bar"><title>{}</title></rect>'
            '<text x="{}" y="{}" class="waste-chart__amount">{}</text>',
            rows,
        ),
    )
