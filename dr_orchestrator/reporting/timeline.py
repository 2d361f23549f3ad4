"""An SVG timeline: one bar per step against the RTO lines, readable at a glance.

Rows are steps in start order, grouped by service; the x axis is seconds since the
run started. A dashed red line marks the plan RTO and a short tick on each service's
last row marks that service's RTO. Every bar has a <title> (hover text) and a
`data-step` attribute so tests and people can find it.
"""

from __future__ import annotations

from html import escape

from dr_orchestrator.reporting.model import Report

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "interrupted": "#ef6c00",
           "rolled_back": "#6a1b9a", "running": "#1565c0", "skipped": "#9e9e9e", "pending": "#bdbdbd"}
ROW_H, BAR_H, LABEL_W, PLOT_W, TOP, BOTTOM = 22, 14, 260, 640, 34, 40


def _ticks(limit: float) -> list[float]:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if limit / step <= 10:
            return [i * step for i in range(int(limit // step) + 1)]
    return [0.0, limit]


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if sec else f"{minutes}m"


def render_svg(report: Report) -> str:
    steps = [s for s in report.steps if s.start_s is not None]
    rtos = [o.target_s for o in report.objectives if o.kind == "RTO"]
    run_end = max([report.duration_s, *[s.end_s or s.start_s or 0.0 for s in steps], 0.5])
    # Show RTO lines to scale when they are near the run; a far-away RTO (a 10 s drill
    # against a 15 min RTO) would squash every bar, so it is drawn at the edge, marked off scale.
    near = [r for r in rtos if r <= run_end * 3]
    horizon = max([run_end, *near]) * 1.08
    scale = PLOT_W / horizon
    height = TOP + ROW_H * max(len(steps), 1) + BOTTOM
    width = LABEL_W + PLOT_W + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="Timeline of every step against the RTO">',
           '<style>text{font:12px sans-serif;fill:#222}.axis{stroke:#999}.grid{stroke:#eee}'
           '.rto{stroke:#c62828;stroke-dasharray:6 4;stroke-width:2}.svc-rto{stroke:#c62828;stroke-width:2}</style>']
    for tick in _ticks(horizon):
        x = LABEL_W + tick * scale
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - BOTTOM + 4}"/>')
        out.append(f'<text x="{x:.1f}" y="{height - BOTTOM + 18}" text-anchor="middle">{_fmt(tick)}</text>')
    last_row: dict[str, int] = {}
    for i, s in enumerate(steps):
        y = TOP + i * ROW_H
        start = s.start_s or 0.0
        end = s.end_s if s.end_s is not None else report.duration_s
        x, w = LABEL_W + start * scale, max((end - start) * scale, 2.0)
        label = escape(f"{s.service} · {s.name}")
        title = escape(f"{s.service} / {s.name} ({s.kind}): {s.status}, start {start:.2f}s, "
                       f"{(end - start):.2f}s" + (f", {s.attempts} attempts" if s.attempts > 1 else "")
                       + (f" — {s.error}" if s.error else ""))
        out.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 2}" text-anchor="end">{label}</text>')
        out.append(f'<rect class="bar" data-step="{escape(s.key)}" data-status="{escape(s.status)}" '
                   f'x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" rx="2" '
                   f'fill="{COLOURS.get(s.status, "#607d8b")}"><title>{title}</title></rect>')
        last_row[s.service] = i
    edge = LABEL_W + PLOT_W
    for svc in report.services:
        if svc.rto_s is None or svc.name not in last_row:
            continue
        off = svc.rto_s > horizon
        x = edge if off else LABEL_W + svc.rto_s * scale
        y = TOP + last_row[svc.name] * ROW_H
        out.append(f'<line class="svc-rto" data-service="{escape(svc.name)}" x1="{x:.1f}" y1="{y - 3}" '
                   f'x2="{x:.1f}" y2="{y + BAR_H + 3}"><title>RTO {escape(svc.name)}: {_fmt(svc.rto_s)}'
                   f'</title></line>')
        if off:
            out.append(f'<text x="{edge + 4}" y="{y + BAR_H - 2}" fill="#c62828">{_fmt(svc.rto_s)}→</text>')
    if report.rto_s is not None:
        off = report.rto_s > horizon
        x = edge if off else LABEL_W + report.rto_s * scale
        label = f"plan RTO {_fmt(report.rto_s)}" + (" (off scale →)" if off else "")
        out.append(f'<line class="rto" x1="{x:.1f}" y1="{TOP - 14}" x2="{x:.1f}" y2="{height - BOTTOM + 4}"/>')
        out.append(f'<text x="{x - 4:.1f}" y="{TOP - 18}" text-anchor="end" fill="#c62828">{label}</text>')
    out.append(f'<line class="axis" x1="{LABEL_W}" y1="{height - BOTTOM + 4}" x2="{LABEL_W + PLOT_W}" '
               f'y2="{height - BOTTOM + 4}"/>')
    out.append(f'<text x="{LABEL_W + PLOT_W / 2}" y="{height - 6}" text-anchor="middle">'
               'seconds since the run started</text>')
    out.append("</svg>")
    return "\n".join(out)
