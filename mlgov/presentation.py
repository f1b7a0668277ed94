"""How the optimizer's decisions and the models look on the pages: the badge tones, and the Lab's comparison
chart (an SVG drawn here, as the SLA and waste charts are: no script, no CDN)."""

from django.utils.html import format_html, format_html_join

from spotopt.presentation import register_badges

from .choices import Decision, ModelStatus
from .models import ExperimentLog, MLModel

register_badges(
    ExperimentLog,
    {
        "decision": {
            Decision.SWITCH: "ok",
            Decision.HOLD: "",
            Decision.FALLBACK_ONDEMAND: "warn",
            Decision.RETURN_TO_SPOT: "ok",
            Decision.FAILED: "error",
        }
    },
)
register_badges(
    MLModel,
    {
        "status": {
            ModelStatus.CANDIDATE: "",
            ModelStatus.TESTING: "info",
            ModelStatus.GRADUATED: "info",
            ModelStatus.ENABLED: "ok",
            ModelStatus.ARCHIVED: "",
        }
    },
)


# The Lab's comparison chart: per model, two bars on one percent axis from 0 to a round peak.
CHART_WIDTH, CHART_LABEL_W, CHART_VALUE_W = 640, 170, 130
CHART_BAR_H, CHART_GROUP_GAP, CHART_LEGEND_H, CHART_AXIS_H = 14, 14, 28, 40
CHART_PEAKS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0)
CHART_NAME_CHARS = 24


def _percent(fraction: float) -> str:
    points = fraction * 100
    return "< 0.1 %" if 0 < points < 0.1 else f"{points:.3g} %"


def _comparison_bars(model: dict) -> tuple[str, list[tuple]]:
    """The model's name as the chart shows it, and its two bars: (kind, fraction or None, value text, spoken)."""
    name = f"{model['name']} {model['version']}" + (" (production)" if model["is_active_prod"] else "")
    runs, risk = model["runs"], model["mean_crash_probability"]
    if risk is None:  # every run failed before the model scored anything
        bars = [("risk", None, f"not scored · {runs} runs", "no crash probability scored")]
    else:
        bars = [("risk", risk, f"{_percent(risk)} · {runs} runs", f"{_percent(risk)} mean crash probability")]
    settled = model["success_count"] + model["failure_count"]
    if settled:
        failed = model["failure_count"] / settled
        counted = f"{model['failure_count']} of {settled} settled switches failed"
        bars.append(("failed", failed, f"{_percent(failed)} · {model['failure_count']} of {settled}", counted))
    else:
        bars.append(("failed", None, "no settled switch", "no settled switch yet"))
    return name, bars


def comparison_chart(comparison: list[dict]) -> str:
    """For each model with runs in the window (model_comparison's rows): its mean crash probability and the
    share of its settled switches that failed, side by side on one percent axis; the lower both are, the
    safer the model is to promote. "" when no model has run (the page says so). The table next to it stays
    the accessible data; the SVG's aria-label reads the same numbers."""
    groups = [(m, *_comparison_bars(m)) for m in comparison if m["runs"]]
    if not groups:
        return ""
    highest = max(value or 0.0 for _, _, bars in groups for _, value, _, _ in bars)
    peak = next(p for p in CHART_PEAKS if p >= highest)
    plot_w = CHART_WIDTH - CHART_LABEL_W - CHART_VALUE_W
    group_h = 2 * CHART_BAR_H + CHART_GROUP_GAP
    bottom = CHART_LEGEND_H + len(groups) * group_h
    drawn, spoken = [], []
    for index, (model, name, bars) in enumerate(groups):
        top = CHART_LEGEND_H + index * group_h
        shown = name if len(name) <= CHART_NAME_CHARS else name[: CHART_NAME_CHARS - 1] + "…"
        drawn.append(format_html('<text x="0" y="{}" class="lab-chart__name">{}</text>', top + CHART_BAR_H + 4, shown))
        spoken.append(f"{name}: {model['runs']} runs, " + ", ".join(words for *_, words in bars))
        for offset, (kind, value, text, words) in enumerate(bars):
            y = top + offset * CHART_BAR_H
            width = plot_w * (value or 0.0) / peak
            drawn.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" class="lab-chart__bar lab-chart__bar--{}">'
                    "<title>{}: {}</title></rect>"
                    '<text x="{}" y="{}" class="lab-chart__value">{}</text>',
                    CHART_LABEL_W,
                    y,
                    f"{width:.1f}",
                    CHART_BAR_H - 2,
                    kind,
                    name,
                    words,
                    f"{CHART_LABEL_W + width + 6:.1f}",
                    y + CHART_BAR_H - 3,
                    text,
                )
            )
    ticks = [(f"{CHART_LABEL_W + plot_w * step / 5:.1f}", _percent(peak * step / 5)) for step in range(6)]
    return format_html(
        '<svg class="lab-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{summary}">'
        "<title>Mean crash probability and failed settled switches per model</title>"
        '<rect x="{label_w}" y="4" width="12" height="12" class="lab-chart__bar lab-chart__bar--risk"/>'
        '<text x="{risk_key}" y="14" class="lab-chart__label">Mean crash probability, last 7 days</text>'
        '<rect x="{failed_box}" y="4" width="12" height="12" class="lab-chart__bar lab-chart__bar--failed"/>'
        '<text x="{failed_key}" y="14" class="lab-chart__label">Settled switches that failed, all time</text>'
        "{grid}{bars}"
        '<line x1="{label_w}" y1="{bottom}" x2="{axis_end}" y2="{bottom}" class="lab-chart__axis"/>'
        '<text x="{axis_mid}" y="{axis_title}" class="lab-chart__label" text-anchor="middle">Per cent</text>'
        "</svg>",
        width=CHART_WIDTH,
        height=bottom + CHART_AXIS_H,
        summary="Per model, mean crash probability and settled switches that failed. " + "; ".join(spoken) + ".",
        label_w=CHART_LABEL_W,
        risk_key=CHART_LABEL_W + 18,
        failed_box=CHART_LABEL_W + 230,
        failed_key=CHART_LABEL_W + 248,
        grid=format_html_join(
            "",
            '<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="lab-chart__grid"/>'
            '<text x="{0}" y="{3}" class="lab-chart__label" text-anchor="middle">{4}</text>',
            ((x, CHART_LEGEND_H - 4, bottom, bottom + 14, label) for x, label in ticks),
        ),
        bars=format_html_join("", "{}", ((part,) for part in drawn)),
        bottom=bottom,
        axis_end=CHART_LABEL_W + plot_w,
        axis_mid=CHART_LABEL_W + plot_w / 2,
        axis_title=bottom + 32,
    )
