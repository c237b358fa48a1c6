"""
The README's Python examples run as written and print what their comments say.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_prints_what_it_says(block: str) -> None:
    """Each ```python block runs; its trailing `# ...` comment lines are its exact output."""
    out = io.StringIO()

    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README

    promised = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    assert out.getvalue().splitlines() == promised


def test_readme_has_the_how_to() -> None:
    """The how-to shows a filled paper order and the live-blocked result."""
    text = "\n".join(BLOCKS)

    assert "success=True state=FILLED stage=8" in text
    assert "success=False reason=POLICY_LIVE_NOT_ENABLED order=FAILED" in text
