"""Plans as text: rich table, markdown, JSON, mermaid and graphviz dot.

Every format shows the same facts: waves, each service's steps, its estimated
time to recovery (finish offset under ASAP scheduling) beside its RTO with an
OK/OVER mark, the critical path, and the overall estimate against the runbook RTO.
`graph=True` (for `dro graph`) renders only the dependency graph.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from dr_orchestrator.planning.model import Plan, ServicePlan, format_seconds

if TYPE_CHECKING:  # rich is imported by the table renderers only: JSON output never needs it
    from rich.console import RenderableType

FORMATS = ("table", "markdown", "json", "mermaid", "dot")
GRAPH_FORMATS = ("mermaid", "dot")
CRITICAL_MARK = "*"


def status(ok: bool | None) -> str:
    return "-" if ok is None else ("OK" if ok else "OVER")


def rto_text(rto_s: float | None) -> str:
    return "-" if rto_s is None else format_seconds(rto_s)


def summary(plan: Plan) -> str:
    scope = f" for {', '.join(plan.requested)} (with dependencies)" if plan.requested else ""
    rto = "" if plan.rto_s is None else f" · runbook RTO {format_seconds(plan.rto_s)} {status(plan.rto_ok)}"
    return (f"{plan.action} plan{scope}: {len(plan.services)} service(s) in {len(plan.waves)} wave(s) · "
            f"estimated total {format_seconds(plan.estimated_total_s)}{rto}")


def critical_line(plan: Plan) -> str:
    if not plan.critical_path:
        return "critical path: (empty plan)"
    return (f"critical path: {' -> '.join(plan.critical_path)} "
            f"({format_seconds(plan.estimated_total_s)})")


def step_lines(sp: ServicePlan) -> list[str]:
    if not sp.steps:
        return ["(no steps)"]
    return [f"{s.index + 1}. {s.name} [{s.kind}] {format_seconds(s.estimate_s)}"
            + (" (measured in drills)" if s.measured else "")
            + (f" (from {s.playbook})" if s.playbook else "") for s in sp.steps]


def notes(plan: Plan) -> list[str]:
    return [f.message() for f in plan.findings] + list(plan.warnings)


# --- table ------------------------------------------------------------------------


def table_renderable(plan: Plan) -> RenderableType:
    """A rich renderable (colours on a terminal); `render(plan, 'table')` gives plain text.

    One row per service (its total estimate, start, recovery time and RTO), then one row
    per step with the step's own estimate and estimated start. Cells are `Text`, never
    markup strings: names like `[shell]` must print as written.
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAVY, pad_edge=False)
    table.add_column("wave", justify="right", no_wrap=True)
    # The only column that gives way on a narrow terminal; its cells end in "…", never wrap.
    table.add_column("service / step", overflow="ellipsis")
    table.add_column("kind", no_wrap=True)
    for col in ("estimate", "start", "recovered", "RTO"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for wave in plan.waves:
        for i, name in enumerate(wave.services):
            sp = plan.services[name]
            mark = status(sp.rto_ok)
            colour = {"OK": "green", "OVER": "bold red"}.get(mark, "dim")
            label = Text(f"{CRITICAL_MARK} {name}" if sp.critical else f"  {name}",
                         style="bold" if sp.critical else "", no_wrap=True, overflow="ellipsis")
            table.add_row(Text(str(wave.index) if i == 0 else ""), label, Text(""),
                          Text(format_seconds(sp.duration_s)), Text(format_seconds(sp.start_s)),
                          Text(format_seconds(sp.finish_s)), Text(rto_text(sp.rto_s)),
                          Text(mark, style=colour))
            offset = sp.start_s
            for step in sp.steps:
                text = Text(f"    {step.index + 1}. {step.name}", no_wrap=True, overflow="ellipsis")
                if step.playbook:
                    text.append(f" ({step.playbook})", style="dim")
                table.add_row(Text(""), text, Text(step.kind, style="dim"),
                              Text(("≈" if step.measured else "") + format_seconds(step.estimate_s),
                                   style="cyan" if step.measured else "dim"),
                              Text(format_seconds(offset), style="dim"), Text(""), Text(""), Text(""))
                offset += step.estimate_s
        table.add_section()
    over = plan.rto_ok is False
    parts: list[RenderableType] = [Text(summary(plan), style="bold red" if over else "bold"), table,
                                   Text(f"{CRITICAL_MARK} {critical_line(plan)}", style="bold")]
    if any(s.measured for s in plan.steps()):
        parts.append(Text("≈ measured: the median duration of this step in recent drills (see dro history)",
                          style="cyan"))
    parts += [Text(f"warning: {n}", style="yellow") for n in notes(plan)]
    return Group(*parts)


def render_table(plan: Plan, width: int = 140) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, no_color=True, highlight=False).print(table_renderable(plan))
    return buf.getvalue()


# --- markdown ---------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(plan: Plan) -> str:
    out = [f"# {plan.action.capitalize()} plan", "", summary(plan) + ".", "",
           f"**{_md(critical_line(plan))}**", "",
           "| wave | service | duration | start | recovered at | RTO | status |",
           "|---:|---|---:|---:|---:|---:|---|"]
    for sp in plan.ordered_services():
        name = f"**{_md(sp.name)}** \\{CRITICAL_MARK}" if sp.critical else _md(sp.name)
        out.append(f"| {sp.wave} | {name} | {format_seconds(sp.duration_s)} | {format_seconds(sp.start_s)} | "
                   f"{format_seconds(sp.finish_s)} | {rto_text(sp.rto_s)} | {status(sp.rto_ok)} |")
    out += ["", f"\\{CRITICAL_MARK} on the critical path.", ""]
    for wave in plan.waves:
        out += [f"## Wave {wave.index}", ""]
        for name in wave.services:
            sp = plan.services[name]
            deps = f" (after {', '.join(sp.depends_on)})" if sp.depends_on else ""
            out += [f"### {name}{deps}", ""] + [f"{line}" if line[0].isdigit() else f"- {line}"
                                                for line in step_lines(sp)] + [""]
    if notes(plan):
        out += ["## Warnings", ""] + [f"- {n}" for n in notes(plan)] + [""]
    return "\n".join(out)


# --- json -------------------------------------------------------------------------


def render_json(plan: Plan) -> str:
    """Top-level keys one per line, then one line per wave and per service.

    Readable in a pager and diffable line by line, and fast: `json.dumps(indent=...)` falls
    back to the pure-Python encoder (0.7 s for 10,000 services), compact dumps use the C one.
    """
    data = plan.to_dict()
    lines = []
    for key, value in data.items():
        if key in ("waves", "services") and value:
            items = ([json.dumps(v) for v in value] if isinstance(value, list)
                     else [json.dumps({k: v})[1:-1] for k, v in value.items()])  # one C call per line
            open_, close = ("[", "]") if isinstance(value, list) else ("{", "}")
            body = ",\n    ".join(items)
            lines.append(f"  {json.dumps(key)}: {open_}\n    {body}\n  {close}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# --- mermaid ----------------------------------------------------------------------


def node_ids(plan: Plan) -> dict[str, str]:
    """Service name -> an identifier safe in mermaid (`end` and punctuation break it)."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for name in plan.services:
        base = "svc_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident, n = base, 1
        while ident in used:
            n += 1
            ident = f"{base}_{n}"
        used.add(ident)
        ids[name] = ident
    return ids


def node_label(sp: ServicePlan, graph: bool) -> str:
    if graph:
        return sp.name
    rto = "" if sp.rto_s is None else f" / RTO {format_seconds(sp.rto_s)} {status(sp.rto_ok)}"
    return f"{sp.name}\n{len(sp.steps)} step(s), {format_seconds(sp.duration_s)}\n" \
           f"recovered at {format_seconds(sp.finish_s)}{rto}"


def _critical_edges(plan: Plan) -> set[tuple[str, str]]:
    path = plan.critical_path
    return set(zip(path, path[1:], strict=False))


def render_mermaid(plan: Plan, graph: bool = False) -> str:
    ids = node_ids(plan)
    out = ["flowchart LR"]
    if not graph:
        out.append(f"  %% {summary(plan)}")
    for wave in plan.waves:
        indent = "  " if graph else "    "
        if not graph:
            out.append(f'  subgraph wave{wave.index}["wave {wave.index}"]')
        for name in wave.services:
            label = node_label(plan.services[name], graph).replace('"', "#quot;").replace("\n", "<br/>")
            out.append(f'{indent}{ids[name]}["{label}"]')
        if not graph:
            out.append("  end")
    critical = _critical_edges(plan)
    styled: list[int] = []
    for i, (dep, svc) in enumerate(plan.edges()):
        out.append(f"  {ids[dep]} --> {ids[svc]}")
        if (dep, svc) in critical:
            styled.append(i)
    if not graph and plan.critical_path:
        out.append("  classDef critical stroke:#d33,stroke-width:3px")
        out.append(f"  class {','.join(ids[n] for n in plan.critical_path)} critical")
        if styled:
            out.append(f"  linkStyle {','.join(map(str, styled))} stroke:#d33,stroke-width:3px")
    over = [ids[sp.name] for sp in plan.ordered_services() if sp.rto_ok is False]
    if not graph and over:
        out.append("  classDef over fill:#fdd")
        out.append(f"  class {','.join(over)} over")
    return "\n".join(out) + "\n"


# --- dot --------------------------------------------------------------------------


def _dot(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(plan: Plan, graph: bool = False) -> str:
    out = ["digraph plan {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    if not graph:
        out.append(f"  label={_dot(summary(plan) + ' · ' + critical_line(plan))};")
        out.append("  labelloc=t;")
    for wave in plan.waves:
        indent = "  " if graph else "    "
        if not graph:
            out.append(f"  subgraph cluster_wave{wave.index} {{")
            out.append(f"    label={_dot(f'wave {wave.index}')}; style=dashed;")
        for name in wave.services:
            sp = plan.services[name]
            attrs = [f"label={_dot(node_label(sp, graph))}"]
            if not graph and sp.critical:
                attrs.append("color=red, penwidth=2")
            if not graph and sp.rto_ok is False:
                attrs.append('style=filled, fillcolor="#ffdddd"')
            out.append(f"{indent}{_dot(name)} [{', '.join(attrs)}];")
        if not graph:
            out.append("  }")
    critical = _critical_edges(plan)
    for dep, svc in plan.edges():
        style = " [color=red, penwidth=2]" if not graph and (dep, svc) in critical else ""
        out.append(f"  {_dot(dep)} -> {_dot(svc)}{style};")
    out.append("}")
    return "\n".join(out) + "\n"


def render(plan: Plan, fmt: str, graph: bool = False) -> str:
    """The plan (or with `graph`, its dependency graph) as text in `fmt`."""
    if graph:
        if fmt == "mermaid":
            return render_mermaid(plan, graph=True)
        if fmt == "dot":
            return render_dot(plan, graph=True)
        raise ValueError(f"graph format must be one of {GRAPH_FORMATS}")
    renderers: dict[str, Callable[[Plan], str]] = {
        "table": render_table, "markdown": render_markdown, "json": render_json,
        "mermaid": render_mermaid, "dot": render_dot,
    }
    if fmt not in renderers:
        raise ValueError(f"format must be one of {FORMATS}")
    return renderers[fmt](plan)
