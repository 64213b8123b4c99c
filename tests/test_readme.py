"""The README's two commands are the ones CI runs."""

from __future__ import annotations

import re

from conftest import REPO


def test_ci_runs_readme_test_command():
    root = REPO
    blocks = re.findall(r"```bash\n(.+?)\n```", (root / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    setup, tests = blocks[0], blocks[1]
    assert "cityplan run" in setup and "pytest" in tests
    assert tests in (root / ".ci/run").read_text(encoding="utf-8")
