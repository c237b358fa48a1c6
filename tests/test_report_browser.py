"""
The governance report as a reader sees it: rendered by headless Chromium (Debian's
``chromium``), its DOM read back after the page loaded, and a screenshot taken.

Outside CI a missing Chromium skips this module with one reason; with ``CI=true`` it fails
its collection, so CI cannot pass without looking at the page.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from execfsm.diagrams.provenance import Provenance
from execfsm.diagrams.report import write_report
from execfsm.enums import ReasonCode
from execfsm.governance import MACHINES
from execfsm.governance.declared import PropertyResult
from execfsm.governance.properties import verify_machines
from execfsm.registry import unregister_machine
from tests.test_report import Tally

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SOURCE = Provenance("4.5.6", "c0ffee0123", "2026-12-01")
PROBE = """
<script>
window.addEventListener("load", () => {
  const images = [...document.querySelectorAll("figure.diagram img")].map((img) => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    shownWidth: img.getBoundingClientRect().width,
  }));
  const probe = {
    images,
    headings: [...document.querySelectorAll("h1, h2, h3")].map((h) => h.innerText),
    text: document.body.innerText,
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
});
</script>
"""
"""Added to a copy of the page: what the browser shows, written into the DOM it dumps."""


def find_chromium() -> str | None:
    """The Chromium program on PATH, or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
MISSING = (
    "!! headless Chromium not found (tried chromium, chromium-browser, google-chrome): the "
    "governance report was NOT checked in a browser; install it with "
    "`apt-get install -y chromium` (CI does, in .ci/run)"
)
if CHROMIUM is None:  # one reason for the whole module, before anything is prepared
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)


def run_browser(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(  # noqa: S603 - a fixed program and our own arguments
        command, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def report_dir(
    tmp_path_factory: pytest.TempPathFactory, builtin_results: list[PropertyResult]
) -> Path:
    """The report of execfsm's machines plus a user's machine whose property fails."""
    out = tmp_path_factory.mktemp("report")
    machines = {**MACHINES, "tally": Tally}
    try:
        results = [*builtin_results, *verify_machines({"tally": Tally}, depth=4)]
        write_report(
            out,
            machines,
            "abc123",
            title="Desk <A> governance",
            policy="Desk A trades only in `PAPER` mode.",
            results=results,
            source=SOURCE,
        )
    finally:
        unregister_machine(Tally)
    return out


@pytest.fixture(scope="module")
def seen(report_dir: Path) -> dict[str, Any]:
    """What the browser shows of the page: images, headings and the visible text."""
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    probed = report_dir / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    done = run_browser("--dump-dom", probed.as_uri())

    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, "the page did not load in the browser: " + done.stdout[-2000:]
    probe: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return probe


class TestInTheBrowser:
    def test_every_machine_has_a_heading(self, seen: dict[str, Any]) -> None:
        """Each machine's heading is on the page, the user's machine too."""
        headings = seen["headings"]

        assert headings[0] == "Desk <A> governance"
        for name, machine in {**MACHINES, "tally": Tally}.items():
            assert f"{machine.__name__} ({name})" in headings
        for heading in ("Kill switch", "Live-execution policy", "Policy", "Reason codes"):
            assert heading in headings

    def test_every_diagram_image_loaded(self, seen: dict[str, Any]) -> None:
        """Each machine's diagram is a loaded image with a real size on the page."""
        images = seen["images"]

        assert [i["alt"] for i in images] == [
            f"{m.__name__} state diagram" for m in (*MACHINES.values(), Tally)
        ]
        for image in images:
            assert image["complete"]
            assert image["width"] > 100
            assert image["height"] > 50
            assert image["shownWidth"] > 100

    def test_the_reader_sees_the_evidence(self, seen: dict[str, Any]) -> None:
        """Legend, property results, the failure's trace, kill switch, glossary and
        provenance are in the visible text."""
        text = seen["text"]

        for line in (
            "execfsm version\t4.5.6",
            "git commit\tc0ffee0123",
            "generated on\t2026-12-01",
            "{validator}\ta rule checked on the transition",
            "[cond]\ta condition",
            "state: paused\tyellow rounded box, dashed outline",
            "red, thicker arrow\tat least one transition on it has validators",
            "PASS\tP1\tno path reaches DISPATCH",
            "PASS\tG1\t",
            "FAIL\tT1\tat most two bumps",
            "1. bump -> ON\n2. bump -> ON\n3. bump -> ON",
            "An operator can halt all trading with a kill switch",
            "RISK_KILL_SWITCH_ACTIVE",
            "Desk A trades only in PAPER mode.",
            "rptally.TOO_MANY\tThe tally refused a bump beyond its cap (cap <b>bold</b>).",
        ):
            assert line in text, line
        for code in ReasonCode:
            assert f"{code.value}\t" in text, code

    def test_no_backticks_or_markdown_are_visible(self, seen: dict[str, Any]) -> None:
        """The visible text has no backticks, no Markdown emphasis and no table pipes."""
        text = seen["text"]

        assert "`" not in text
        assert "**" not in text
        assert "| --- |" not in text

    def test_the_page_renders_to_a_picture(self, report_dir: Path) -> None:
        """A screenshot of the page is a real, non-trivial PNG."""
        shot = report_dir / "report.png"

        done = run_browser(
            f"--screenshot={shot}", "--window-size=1280,4000", (report_dir / "report.html").as_uri()
        )

        assert done.returncode == 0, done.stderr[-2000:]
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG")
        assert len(data) > 100_000
