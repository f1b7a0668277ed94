"""How the SLA looks on its page: the cause badges and the 12-month chart, an SVG drawn here (no script,
no CDN: it renders wherever the page does)."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join

from spotopt.presentation import register_badges

from .choices import DowntimeCause
from .models import DowntimeLog

register_badges(
    DowntimeLog,
    {
        "cause": {
            DowntimeCause.EMERGENCY_SWITCH: "warn",
            DowntimeCause.NO_REPLICA: "error",
            DowntimeCause.OPTIMIZER_FAILURE: "error",
            DowntimeCause.WORKER_CRASH: "error",
        }
    },
)

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 44, 28, 12


def months_chart(by_month: list[dict], budget_seconds: int) -> str:
    """Bars: the worst account's downtime each month; a dashed line: the budget. Over budget is red."""
    peak = max([float(m["worst_account_seconds"]) for m in by_month] + [budget_seconds * 1.25])
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / max(1, len(by_month))

    def y(seconds: float) -> float:
        return PAD_TOP + plot_h * (1 - seconds / peak)

    bars = []
    for index, month in enumerate(by_month):
        seconds = float(month["worst_account_seconds"])
        x = PAD_LEFT + index * slot + slot * 0.2
        over = Decimal(month["worst_account_seconds"]) > budget_seconds
        bars.append(
            (
                f"{x:.1f}",
                f"{y(seconds):.1f}",
                f"{slot * 0.6:.1f}",
                f"{max(0.0, PAD_TOP + plot_h - y(seconds)):.1f}",
                "sla-bar sla-bar--over" if over else "sla-bar",
                f"{month['month']:%b %Y}: {seconds:.1f} s",
                f"{x + slot * 0.3:.1f}",
                f"{HEIGHT - 8}",
                f"{month['month']:%b}",
            )
        )
    budget_y = f"{y(budget_seconds):.1f}"
    return format_html(
        '<svg class="sla-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="sla-chart-title">'
        '<title id="sla-chart-title">Worst account downtime per month against the {}-second budget</title>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="sla-axis"/>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="sla-budget" stroke-dasharray="6 4"/>'
        '<text x="4" y="{}" class="sla-label">{} s</text>'
        "{}</svg>",
        WIDTH,
        HEIGHT,
        budget_seconds,
        PAD_LEFT,
        PAD_TOP + plot_h,
        WIDTH,
        PAD_TOP + plot_h,
        PAD_LEFT,
        budget_y,
        WIDTH,
        budget_y,
        budget_y,
        budget_seconds,
        format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>'
            '<text x="{}" y="{}" class="sla-label" text-anchor="middle">{}</text>',
            bars,
        ),
    )
