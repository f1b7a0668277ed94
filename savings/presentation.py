"""How savings look: the 12-month chart (projected beside realized per month, an SVG drawn here: no script,
no CDN) and the move kinds' badges."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join

from spotopt.presentation import register_badges

from .choices import MoveKind
from .models import SavingsDay

register_badges(
    SavingsDay,
    {
        "kind": {
            MoveKind.SWITCH: "ok",
            MoveKind.FALLBACK: "warn",
            MoveKind.RETURN: "ok",
            MoveKind.REPLICA: "warn",
            MoveKind.REPLACEMENT: "warn",
        }
    },
)

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 52, 28, 12


def months_chart(months: list[dict]) -> str:
    """Two bars a month: projected (light) and realized (dark; below the axis when negative)."""
    values = [abs(Decimal(m[k])) for m in months for k in ("realized", "projected")]
    peak = float(max([*values, Decimal("1")])) * 1.15
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    zero_y = PAD_TOP + plot_h * 0.85  # room below the axis for a month that cost more than it saved
    scale = (plot_h * 0.85) / peak
    slot = (WIDTH - PAD_LEFT) / max(1, len(months))
    bars = []
    for index, month in enumerate(months):
        x = PAD_LEFT + index * slot + slot * 0.15
        for offset, key, css in (
            (0.0, "projected", "savings-bar savings-bar--projected"),
            (0.35, "realized", "savings-bar"),
        ):
            value = float(month[key])
            height = abs(value) * scale
            top = zero_y - height if value >= 0 else zero_y
            css = css + (" savings-bar--negative" if value < 0 else "")
            bars.append(
                (
                    f"{x + slot * offset:.1f}",
                    f"{top:.1f}",
                    f"{slot * 0.33:.1f}",
                    f"{height:.1f}",
                    css,
                    f"{month['month']:%b %Y} {key}: ${value:,.2f}",
                )
            )
    rects = bars
    labels = [
        (f"{PAD_LEFT + i * slot + slot * 0.5:.1f}", f"{HEIGHT - 8}", f"{m['month']:%b}") for i, m in enumerate(months)
    ]
    return format_html(
        '<svg class="savings-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="savings-chart-title">'
        '<title id="savings-chart-title">Projected and realized savings per month, USD</title>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="sla-axis"/>{}{}</svg>',
        WIDTH,
        HEIGHT,
        PAD_LEFT,
        f"{zero_y:.1f}",
        WIDTH,
        f"{zero_y:.1f}",
        format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" class="{}"><title>{}</title></rect>', rects),
        format_html_join("", '<text x="{}" y="{}" class="sla-label" text-anchor="middle">{}</text>', labels),
    )
