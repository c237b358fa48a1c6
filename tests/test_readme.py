"""
The README's Python examples run as written.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run() -> None:
    """Every ```python block of the README executes without error."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)

    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README

    assert blocks
