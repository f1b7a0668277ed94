"""How the optimizer's decisions and the models look on the pages."""

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

# The Lab's comparison chart: per model, two bars on one 0-to-peak percent axis.
CHART_WIDTH, CHART_LABEL_W, CHART_VALUE_W = 680, 160, 190
CHART_BAR_H, CHART_GROUP_GAP, CHART_LEGEND_H, CHART_AXIS_H = 14, 16, 26, 40
CHART_PEAKS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0)


def _percent(fraction: float) -> str:
    points = fraction * 100
    if points and points < 0.1:
        return "< 0.1 %"
    return f"{points:.3g} %"


def _failed_share(model: dict) -> tuple[float | None, str]:
    """The share of the model's settled switches that failed (None: none settled yet), and how it reads."""
    settled = model["success_count"] + model["failure_count"]
    if not settled:
        return None, "no settled switch yet"
    share = model["failure_count"] / settled
    return share, f"{_percent(share)} failed ({model['failure_count']} of {settled} settled)"


def comparison_chart(comparison: list[dict]) -> str:
    """For each model with runs in the window: its mean crash probability and the share of its settled switches
    that failed, side by side on one percent axis (a low pair is the model to promote). "" when no model has
    run: the page says so instead. The comparison table stays the accessible data; the SVG's aria-label
    reads the same numbers."""
    ran = [m for m in comparison if m["runs"]]
    if not ran:
        return ""
    groups = [(m, float(m["mean_crash_probability"] or 0.0), *_failed_share(m)) for m in ran]
    highest = max(max(risk, failed or 0.0) for _, risk, failed, _ in groups)
    peak = next(p for p in CHART_PEAKS if p >= highest)
    plot_w = CHART_WIDTH - CHART_LABEL_W - CHART_VALUE_W
    group_h = 2 * CHART_BAR_H + CHART_GROUP_GAP
    plot_bottom = CHART_LEGEND_H + len(groups) * group_h
    bars, spoken = [], []
    for index, (model, risk, failed, failed_text) in enumerate(groups):
        top = CHART_LEGEND_H + index * group_h
        name = f"{model['name']} {model['version']}" + (" (production)" if model["is_active_prod"] else "")
        risk_text = f"{_percent(risk)} mean crash probability, {model['runs']} runs"
        spoken.append(f"{name}: {risk_text}; {failed_text}")
        for offset, kind, value, text in ((0, "risk", risk, risk_text), (CHART_BAR_H, "failed", failed, failed_text)):
            width = plot_w * (value or 0.0) / peak
            bars.append(
                (
                    kind,
                    CHART_LABEL_W,
                    top + offset,
                    f"{width:.1f}",
                    CHART_BAR_H - 2,
                    f"{name}: {text}",
                    f"{CHART_LABEL_W + width + 6:.1f}",
                    top + offset + CHART_BAR_H - 3,
                    " lab-chart__value--none" if value is None else "",
                    text,
                )
            )
        bars.append(("name", 0, top + CHART_BAR_H + 4, 0, 0, name, "", "", "", ""))
    ticks = [
        (f"{CHART_LABEL_W + plot_w * step / 5:.1f}", plot_bottom, _percent(peak * step / 5))
        for step in range(6)
    ]
    return format_html(
        '<svg class="lab-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{summary}">'
        "<title>{title}</title>"
        '<rect x="{label_w}" y="4" width="12" height="12" class="lab-chart__bar lab-chart__bar--risk"/>'
        '<text x="{risk_key_x}" y="14" class="lab-chart__label">Mean crash probability (last 7 days)</text>'
        '<rect x="{failed_x}" y="4" width="12" height="12" class="lab-chart__bar lab-chart__bar--failed"/>'
        '<text x="{failed_key_x}" y="14" class="lab-chart__label">Settled switches that failed (all time)</text>'
        "{ticks}{bars}"
        '<line x1="{label_w}" y1="{bottom}" x2="{axis_end}" y2="{bottom}" class="lab-chart__axis"/>'
        '<text x="{axis_mid}" y="{axis_title_y}" class="lab-chart__label" text-anchor="middle">Per cent</text>'
        "</svg>",
        width=CHART_WIDTH,
        height=plot_bottom + CHART_AXIS_H,
        summary="Per model, mean crash probability and settled switches that failed. " + ". ".join(spoken) + ".",
        title="Mean crash probability and failed settled switches per model",
        label_w=CHART_LABEL_W,
        risk_key_x=CHART_LABEL_W + 18,
        failed_x=CHART_LABEL_W + 270,
        failed_key_x=CHART_LABEL_W + 288,
        ticks=format_html_join(
            "",
            '<line x1="{0}" y1="{2}" x2="{0}" y2="{1}" class="lab-chart__grid"/>'
            '<text x="{0}" y="{3}" class="lab-chart__label" text-anchor="middle">{4}</text>',
            ((x, bottom, CHART_LEGEND_H - 4, bottom + 14, label) for x, bottom, label in ticks),
        ),
        bars=format_html_join("", "{}", ((_bar(*bar),) for bar in bars)),
        bottom=plot_bottom,
        axis_end=CHART_LABEL_W + plot_w,
        axis_mid=CHART_LABEL_W + plot_w / 2,
        axis_title_y=plot_bottom + 32,
    )


def _bar(kind, x, y, width, height, title, value_x, value_y, value_class, value_text) -> str:
    if kind == "name":
        return format_html('<text x="{}" y="{}" class="lab-chart__name">{}</text>', x, y, title)
    return format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" class="lab-chart__bar lab-chart__bar--{}"><title>{}</title></rect>'
        '<text x="{}" y="{}" class="lab-chart__value{}">{}</text>',
        x,
        y,
        width,
        height,
        kind,
        title,
        value_x,
        value_y,
        value_class,
        value_text,
    )
