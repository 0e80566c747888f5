"""The import rules of docs/architecture.md: floors import only lower floors, never siblings."""

import ast
from pathlib import Path

import pytest

NMT = Path(__file__).resolve().parents[1] / "nmt"

# The floor of each room; a module may import its own room and rooms on lower floors only.
FLOORS = {
    "core": 0,
    "data": 1,
    "text": 1,
    "align": 1,
    "model": 2,
    "train": 3,
    "translate": 3,
    "evaluate": 4,
    "report": 5,
    "pipeline": 6,
    "ops": 7,
    "api": 8,
    "cli": 9,
    "__main__": 10,
    "__init__": 11,
}


def room(module: str) -> str:
    """The room of a dotted module name under nmt (`nmt.text.documents` -> `text`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> set[str]:
    """The nmt modules a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nmt"):
            if node.module == "nmt":
                found.update(f"nmt.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("nmt."))
    return found


def modules():
    for path in sorted(NMT.rglob("*.py")):
        rel = path.relative_to(NMT.parent).with_suffix("")
        yield ".".join(rel.parts), path


@pytest.mark.parametrize(("module", "path"), list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_go_down_only(module, path):
    here = room(module)
    assert here in FLOORS, f"{module}: room {here!r} has no floor in FLOORS (docs/architecture.md)"
    for target in imports(path):
        there = room(target)
        if there == "__version__" or there == here:
            continue
        assert FLOORS[there] < FLOORS[here], f"{module} imports {target}: {there} is not below {here}"


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: an import from a higher floor is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nmt.translate.translator import Translator\n")
    targets = imports(bad)
    assert targets == {"nmt.translate.translator"}
    assert FLOORS[room("nmt.translate.translator")] >= FLOORS[room("nmt.train.trainer")]
