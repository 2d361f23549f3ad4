"""Every output format parses and shows every service, edge, the critical path and RTO marks."""

from __future__ import annotations

import json
import re

import pytest

from dr_orchestrator.planning.inputs import PlanInput, ServiceInput, simple_input
from dr_orchestrator.planning.model import PlannedStep
from dr_orchestrator.planning.planner import plan_from_input
from dr_orchestrator.planning.render import node_ids, render

# Names that break naive renderers: mermaid's keyword `end`, punctuation, quotes.
DURATIONS = {"db": 100.0, "cache-1": 3.0, "api.v2": 50.0, 'we"b': 20.0, "end": 1.0}
DEPS = {"api.v2": ["db", "cache-1"], 'we"b': ["api.v2"], "end": ['we"b']}


@pytest.fixture()
def plan():
    inp = simple_input(DURATIONS, DEPS, rto={'we"b': 150.0, "db": 600.0}, runbook_rto=160.0)
    return plan_from_input(inp, "failover")


def edges():
    return [(d, s) for s, ds in DEPS.items() for d in ds]


def test_json_round_trips(plan):
    text = render(plan, "json")
    data = json.loads(text)
    assert data == json.loads(json.dumps(plan.to_dict()))  # the whole plan, nothing lost
    # braces 2, six scalar keys, waves 1+4+1, services 1+5+1, findings and warnings 2
    assert len(text.splitlines()) == 2 + 6 + 6 + 7 + 2
    empty = plan_from_input(simple_input({}), "failover")
    assert json.loads(render(empty, "json"))["waves"] == []
    assert data["action"] == "failover"
    assert data["critical_path"] == ["db", "api.v2", 'we"b', "end"]
    assert data["estimated_total_s"] == 171.0 and data["rto_ok"] is False
    assert [w["services"] for w in data["waves"]] == [["db", "cache-1"], ["api.v2"], ['we"b'], ["end"]]
    assert data["services"]['we"b']["rto_ok"] is False and data["services"]["db"]["rto_ok"] is True
    assert data["services"]["db"]["steps"][0]["kind"] == "shell"
    assert {f["service"] for f in data["findings"]} == {'we"b', None}


def test_mermaid_declares_every_node_and_edge(plan):
    text = render(plan, "mermaid")
    ids = node_ids(plan)
    assert len(set(ids.values())) == len(DURATIONS)
    assert text.startswith("flowchart LR\n")
    declared = set(re.findall(r"^\s+(svc_\w+)\[\"", text, re.M))
    assert declared == set(ids.values())
    found = set(re.findall(r"^\s+(svc_\w+) --> (svc_\w+)$", text, re.M))
    assert found == {(ids[d], ids[s]) for d, s in edges()}
    assert "end" not in re.findall(r"^\s+(\w+)\[", text, re.M)  # the keyword never used as an id
    assert f"class {','.join(ids[n] for n in plan.critical_path)} critical" in text
    assert '"' not in text.split(ids['we"b'] + '["', 1)[1].split('"]', 1)[0]  # quote escaped
    assert "RTO 2m30s OVER" in text


def test_dot_declares_every_node_and_edge(plan):
    text = render(plan, "dot")
    assert text.startswith("digraph plan {") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    for name in DURATIONS:
        quoted = '"' + name.replace('"', '\\"') + '"'
        assert re.search(rf"^\s+{re.escape(quoted)} \[label=", text, re.M), name
    for d, s in edges():
        qd, qs = ('"' + n.replace('"', '\\"') + '"' for n in (d, s))
        assert f"{qd} -> {qs}" in text
    assert '"db" -> "api.v2" [color=red' in text
    assert '"cache-1" -> "api.v2";' in text  # not on the critical path


def test_graph_mode_has_only_nodes_and_edges(plan):
    for fmt in ("mermaid", "dot"):
        text = render(plan, fmt, graph=True)
        assert "wave" not in text and "RTO" not in text and "critical" not in text
        assert text.count("->") == len(edges())


def test_table_shows_steps_marks_and_rto(plan):
    text = render(plan, "table")
    assert "estimated total 2m51s" in text and "runbook RTO 2m40s OVER" in text
    assert re.search(r"1\. run\s+shell\s+1m40s\s+0s", text)  # step row: kind, estimate, start
    assert re.search(r"1\. run\s+shell\s+20s\s+2m30s", text)  # we"b's step starts after api
    assert re.search(r"\* we\"b .* 2m50s\s+2m30s\s+OVER", text)
    assert re.search(r"\* db .* 1m40s\s+10m\s+OK", text)
    assert "critical path: db -> api.v2 -> we\"b -> end (2m51s)" in text
    assert "warning: estimated recovery of service 'we\"b' takes 2m50s" in text


def test_table_prints_brackets_as_written():
    step = PlannedStep(service="a", index=0, name="[bold]restore[/bold] [shell]", kind="shell",
                       estimate_s=5.0)
    inp = PlanInput(services={"a": ServiceInput(name="a", steps=(step,))})
    text = render(plan_from_input(inp, "rebuild"), "table")
    assert "[bold]restore[/bold] [shell]" in text


def test_markdown_table_rows(plan):
    text = render(plan, "markdown")
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(DURATIONS)
    assert all(row.count("|") == 8 for row in rows)
    assert "| 2 | **we\"b** \\* | 20s | 2m30s | 2m50s | 2m30s | OVER |" in rows
    assert "### api.v2 (after db, cache-1)" in text


def test_unknown_format(plan):
    with pytest.raises(ValueError):
        render(plan, "yaml")
    with pytest.raises(ValueError):
        render(plan, "table", graph=True)
