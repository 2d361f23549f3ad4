"""The line finder (positions without composing the document) agrees with PyYAML or abstains."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dr_orchestrator.runbook import validate_file
from dr_orchestrator.runbook.linepos import ABSENT, LineFinder
from dr_orchestrator.runbook.yamlpos import _parse_slow, parse_yaml

ROOT = Path(__file__).parents[3]


def _agrees(text: str) -> int:
    """Check every path PyYAML places; returns how many the finder answered itself."""
    _, smap, issues = _parse_slow(text, "t.yaml")
    assert not issues
    finder = LineFinder(text, "t.yaml")
    answered = 0
    for path in set(smap.keys) | set(smap.values):
        if not path:
            continue
        found = finder.find(path)
        assert found != ABSENT, f"{path} exists but the finder says it does not"
        if found is not None:
            assert found == (smap.keys.get(path), smap.values.get(path)), path
            answered += 1
        if isinstance(path[-1], str):  # a sibling that is not there is never "found"
            assert finder.find(path[:-1] + ("no-such-key",)) in (None, ABSENT)
        else:
            assert finder.find(path[:-1] + (10_000,)) in (None, ABSENT)
    return answered


def test_every_yaml_file_of_the_repository() -> None:
    files = [*ROOT.glob("runbooks/**/*.yaml"), *ROOT.glob("playbooks/*.yaml"),
             *ROOT.glob("tests/unit/runbook/**/*.yaml"), *ROOT.glob("examples/**/*.y*ml")]
    answered = 0
    for path in files:
        text = path.read_text()
        if _parse_slow(text, "t.yaml")[2]:
            continue  # the invalid-YAML fixtures
        answered += _agrees(text)
    assert answered > 2000  # the finder really answers most lookups, it does not just abstain


_KEYS = st.sampled_from(["name", "kind", "a-b", "x.y", '"quoted key"', "'single'", "port", "k"])
_SCALARS = st.sampled_from(["x", "1", "5s", '"a, b"', "'it''s'", "http://h:80/p", "true", '"{{ v }}"', "a: b"])


@st.composite
def _block(draw: st.DrawFn, indent: int = 0, depth: int = 0) -> list[str]:
    """Lines of a block mapping at `indent`: scalars, flow lists/maps, nested maps and lists."""
    pad = " " * indent
    lines: list[str] = []
    for key in dict.fromkeys(draw(st.lists(_KEYS, min_size=1, max_size=4))):
        shape = draw(st.sampled_from(["scalar", "flow-list", "flow-map", "map", "list", "list-of-maps",
                                      "comment"] if depth < 3 else ["scalar", "flow-list"]))
        if shape == "scalar":
            value = draw(_SCALARS)
            lines.append(f"{pad}{key}: {value if value != 'a: b' else repr(value)}")
        elif shape == "flow-list":
            items = draw(st.lists(_SCALARS.filter(lambda v: v != "a: b"), max_size=4))
            lines.append(f"{pad}{key}: [{', '.join(items)}]")
        elif shape == "flow-map":
            items = draw(st.lists(st.sampled_from(["a: 1", "b: x", 'c: "q, r"', "d: [1]"]), min_size=1,
                                  max_size=3, unique=True))
            lines.append(f"{pad}{key}: {{{', '.join(items)}}}")
        elif shape == "map":
            lines.append(f"{pad}{key}:")
            lines += draw(_block(indent + 2, depth + 1))
        elif shape == "list":
            lines.append(f"{pad}{key}:")
            item_pad = pad + draw(st.sampled_from(["", "  "]))  # both indentations YAML allows
            lines += [f"{item_pad}- {draw(_SCALARS.filter(lambda v: v != 'a: b'))}"
                      for _ in range(draw(st.integers(1, 3)))]
        elif shape == "list-of-maps":
            lines.append(f"{pad}{key}:")
            for _ in range(draw(st.integers(1, 3))):
                inner = draw(_block(indent + 4, depth + 1))
                lines.append(f"{pad}  - {inner[0].lstrip()}")
                lines += inner[1:]
        else:
            lines.append(f"{pad}# a comment")
            lines.append(f"{pad}{key}: {draw(_SCALARS.filter(lambda v: v != 'a: b'))}  # trailing")
    return lines


@settings(max_examples=300, deadline=None)
@given(_block())
def test_generated_documents(lines: list[str]) -> None:
    _agrees("\n".join(lines) + "\n")


def test_an_error_in_a_big_runbook_is_placed_without_composing_it(tmp_path: Path) -> None:
    services = "".join(f"  svc-{i:04d}:\n    site: primary\n" + (f"    depends_on: [svc-{i - 1:04d}]\n" if i else "")
                       for i in range(3000))
    text = ("apiVersion: dr-orchestrator/v1\nkind: Runbook\nmetadata: {name: big}\n"
            "sites:\n  primary: {provider: local, role: primary, storage: file:///tmp/x}\n"
            "services:\n" + services + "  broken:\n    site: primary\n    depends_on: [svc-0007, ghost]\n")
    runbook = tmp_path / "big.yaml"
    runbook.write_text(text)
    at = text.index("ghost")
    where = (text.count("\n", 0, at) + 1, at - text.rindex("\n", 0, at))  # 1-based line and column
    _, issues = validate_file(runbook)
    [issue] = [i for i in issues if i.severity == "error"]
    assert "ghost" in issue.message and (issue.line, issue.column) == where
    _, smap, _ = parse_yaml(text, "big.yaml")
    assert smap.value(("services", "broken", "depends_on", 1)) == ("big.yaml", *where)
    assert smap._pending, "the lookup composed the whole document"
