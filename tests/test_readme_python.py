"""The README's Python example runs as written, against the session's trained run."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import nmt

README = Path(__file__).resolve().parents[1] / "README.md"


def python_example() -> str:
    """The first ```python block of the README's "Python" section."""
    section = README.read_text(encoding="utf-8").split("\n## Python\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_translates_with_a_trained_run(trained_run, tmp_path, monkeypatch):
    code = python_example()
    assert len([line for line in code.splitlines() if line.strip()]) == 3
    (tmp_path / "data" / "runs").mkdir(parents=True)
    os.symlink(trained_run, tmp_path / "data" / "runs" / "my-run")  # the README's run folder
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    model = nmt.load(trained_run)
    want = model.translate("The soldier draws my dark cup.")
    assert printed.getvalue() == want + "\n"
    assert want and want != "The soldier draws my dark cup."


def test_an_export_of_the_trained_run_translates_identically(trained_run, tmp_path):
    summary = nmt.export(trained_run, tmp_path / "shipped")
    assert summary["export_bytes"] < summary["checkpoint_bytes"]  # no optimizer state
    lines = ["The soldier draws my dark cup.", "Your dog sees me. These fields have not laughed."]
    assert nmt.load(tmp_path / "shipped").translate(lines) == nmt.load(trained_run).translate(lines)
