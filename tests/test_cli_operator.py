"""
The command line as an operator meets it: help with every default, ``--version``,
``python -m execfsm``, one-line errors for bad paths and arguments, ``run``'s per-intent
report and ``--json``, ``export`` read back, and a demo without warnings.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from execfsm.cli import build_parser, main
from execfsm.cli_machines import DefaultsFormatter
from execfsm.cli_run import PROGRESS_FROM, _Progress

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
LINE = (
    '{"symbol":"BTC/EUR","side":"BUY","quantity":"%s","order_type":"MARKET",'
    '"strategy_id":"s","intent_id":"%s"}'
)


def execfsm(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m execfsm ARGS` in a subprocess, with this checkout's sources."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "execfsm", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=cwd,
    )


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def intents(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "intents.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestHelp:
    @pytest.mark.parametrize(
        ("path", "parser"), COMMANDS, ids=[" ".join(p) or "execfsm" for p, _ in COMMANDS]
    )
    def test_every_argument_is_described_with_its_default(
        self, path: tuple[str, ...], parser: argparse.ArgumentParser
    ) -> None:
        """Each option and positional has help; each option that takes a value shows its
        default or says it is required."""
        formatter = DefaultsFormatter(parser.prog)
        skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
        actions = [a for a in parser._actions if not isinstance(a, skip)]

        undescribed = [a.dest for a in actions if not a.help]
        no_default = [
            a.dest
            for a in actions
            if a.option_strings
            and a.nargs != 0
            and not a.required
            and not any(w in (formatter._get_help_string(a) or "") for w in ("default", "required"))
        ]
        assert (undescribed, no_default) == ([], [])
        assert parser.description

    @pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p))
    def test_help_exits_0_and_shows_defaults(
        self, path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--help` of every command prints its usage and exits 0."""
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])

        out = capsys.readouterr().out
        assert exit_.value.code == 0
        assert out.startswith("usage: execfsm")
        assert "The ``execfsm`` command" not in out

    def test_run_help_shows_the_default_database(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`run --help` shows the default --db and describes FILE."""
        with pytest.raises(SystemExit):
            main(["run", "--help"])

        out = " ".join(capsys.readouterr().out.split())
        assert "SQLite database (default: execfsm.db)" in out
        assert "FILE the intents file" in out


class TestEntryPoints:
    def test_version(self) -> None:
        """`--version` prints execfsm's version."""
        result = execfsm("--version")

        assert result.returncode == 0
        assert result.stdout.startswith("execfsm ")

    def test_python_m_execfsm_is_the_command(self) -> None:
        """`python -m execfsm --help` prints the command's help, not a docstring."""
        result = execfsm("--help")

        assert result.returncode == 0
        assert "usage: execfsm" in result.stdout
        assert "Exit status: 0 ok" in result.stdout


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


class TestBadInput:
    @pytest.fixture(scope="class")
    @staticmethod
    def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
        folder = tmp_path_factory.mktemp("db")
        path = intents(folder, LINE % ("1", "a"))
        assert main(["run", str(path), "--mode", "paper", "--db", str(folder / "run.db")]) == 0
        return folder / "run.db"

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["verify", "--depth", "-1"], "--depth: must be a whole number of at least 1"),
            (["diagrams", "--depth", "0"], "--depth: must be a whole number of at least 1"),
            (["spec", "--dir", "X"], "--dir names where --write writes"),
            (["bogus"], "invalid choice: 'bogus'"),
            (["run"], "the following arguments are required: FILE"),
            (["run", "f", "--mode", "bad"], "argument --mode: invalid choice"),
            (["run", "f", "--batch", "0"], "--batch: must be a whole number of at least 1"),
            (["export", "--format", "xml", "--db", "x"], "argument --format: invalid choice"),
            (["export"], "the following arguments are required: --db"),
            (["run", "--no-such-option", "f"], "unrecognized arguments: --no-such-option"),
        ],
    )
    def test_bad_argument(self, tmp_path: Path, args: list[str], expected: str) -> None:
        """A usage error is one line naming it, exit 2, no usage block, no traceback."""
        err = one_line_exit_2(execfsm(*args, cwd=tmp_path))

        assert expected in err

    def test_a_database_given_as_a_trail_file_suggests_db(self, db: Path) -> None:
        """`audit verify run.db` says to give it as --db, not a UTF-8 decode error."""
        err = one_line_exit_2(execfsm("audit", "verify", db))

        assert f"give --db {db}" in err
        assert "utf-8" not in err

    @pytest.mark.parametrize(
        "args",
        [
            ["demo", "--out", "{file}"],
            ["diagrams", "--out", "{file}", "--project", str(ROOT), "--depth", "1"],
            ["export", "--db", "{db}", "--out", "{file}"],
            ["spec", "--write", "--dir", "/proc/x"],
            ["diagrams", "--out", "/proc/x/y", "--project", str(ROOT), "--depth", "1"],
            ["export", "--db", "{db}", "--out", "/proc/x"],
            ["export", "--db", "{missing}"],
            ["export", "--db", "{folder}"],
            ["run", "{missing}"],
            ["run", "{file}", "--db", "/proc/x/run.db"],
            ["demo", "--out", "{folder}/d", "--db", "/proc/x/d.db"],
            ["recover", "--db", "{file}"],
            ["recover", "--db", "{missing}"],
            ["audit", "verify", "{missing}"],
        ],
        ids=lambda a: " ".join(a),
    )
    def test_bad_path(self, tmp_path: Path, db: Path, args: list[str]) -> None:
        """A path that cannot be read or written is one line, exit 2, no traceback."""
        file = tmp_path / "a-file"
        file.write_text("", encoding="utf-8")
        names = {"file": file, "db": db, "missing": tmp_path / "nope", "folder": tmp_path}

        one_line_exit_2(execfsm(*(a.format(**names) for a in args), cwd=tmp_path))

    @pytest.mark.parametrize(
        ("args", "option"),
        [(["verify"], "--spec-dir"), (["diagrams"], "--out"), (["spec", "--write"], "--dir")],
    )
    def test_outside_a_project_the_current_folder_is_not_used(
        self, tmp_path: Path, args: list[str], option: str
    ) -> None:
        """Outside any project, verify, diagrams and spec --write ask for the folder instead
        of reading or writing the current folder's spec/ or docs/governance/."""
        err = one_line_exit_2(execfsm(*args, cwd=tmp_path))

        assert "no project found" in err
        assert option in err
        assert list(tmp_path.iterdir()) == []

    def test_below_the_project_root_its_spec_is_found(self) -> None:
        """`execfsm spec --write --dir` aside, verify run in a subfolder of the project reads
        the project's spec/, not the subfolder's."""
        result = execfsm("verify", "--depth", "1", cwd=ROOT / "src")

        assert f"match {ROOT / 'spec'}/" in result.stdout


class TestRunReport:
    def test_each_intent_not_completed_has_a_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A refused intent is listed with its line, intent_id, stage, reason and detail; the
        summary separates new work, duplicates and refusals."""
        path = intents(tmp_path, LINE % ("1", "a"), "", LINE % ("0", "zero"))
        db = str(tmp_path / "run.db")

        assert main(["run", str(path), "--mode", "paper", "--db", db]) == 0
        first = capsys.readouterr().out
        assert main(["run", str(path), "--mode", "paper", "--db", db]) == 0
        again = capsys.readouterr().out

        assert "  new work: 1 completed, 1 refused or rejected, 0 paused for review" in first
        assert "  line 3  zero  stage 2 VALIDATION  VALIDATION_INVALID_QUANTITY  quantity:" in first
        assert ": 0 new, 2 duplicate(s)" in again
        assert "  duplicates: 2 answered with their earlier result, nothing run again" in again

    def test_json_writes_one_result_per_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--json: stdout is one JSON object per intent, the summary goes to stderr."""
        path = intents(tmp_path, LINE % ("1", "a"), LINE % ("0", "zero"))

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "r.db"), "--json"])

        captured = capsys.readouterr()
        rows = [json.loads(line) for line in captured.out.splitlines()]
        assert code == 0
        assert [(r["line"], r["intent_id"], r["success"], r["stage"]) for r in rows] == [
            (1, "a", True, 8),
            (2, "zero", False, 2),
        ]
        assert rows[1]["reason_code"] == "VALIDATION_INVALID_QUANTITY"
        assert rows[1]["stage_name"] == "VALIDATION"
        assert rows[0]["order_state"] == "FILLED"
        assert "2 intents from" in captured.err

    def test_no_progress_bar_off_a_terminal(self, tmp_path: Path) -> None:
        """A long run whose stderr is not a terminal draws no bar (nothing on stderr)."""
        lines = [LINE % ("1", f"i{n}") for n in range(PROGRESS_FROM)]
        path = intents(tmp_path, *lines)

        result = execfsm("run", path, "--db", tmp_path / "r.db", "--batch", "500")

        assert result.returncode == 0
        assert result.stderr == ""

    def test_a_progress_bar_on_a_terminal(self) -> None:
        """On a terminal a long run draws tqdm's bar; a short one draws none."""
        pytest.importorskip("tqdm")

        class Terminal:
            def __init__(self) -> None:
                self.text = ""

            def isatty(self) -> bool:
                return True

            def write(self, text: str) -> None:
                self.text += text

            def flush(self) -> None:
                pass

        long, short = Terminal(), Terminal()
        bar = _Progress(PROGRESS_FROM, long)  # type: ignore[arg-type]
        bar.advance(PROGRESS_FROM)
        bar.close()
        _Progress(PROGRESS_FROM - 1, short).close()  # type: ignore[arg-type]

        assert f"0/{PROGRESS_FROM} [" in long.text
        assert short.text == ""


class TestExport:
    @pytest.fixture(scope="class")
    @staticmethod
    def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
        out = tmp_path_factory.mktemp("demo")
        assert main(["demo", "--out", str(out)]) == 0
        return out / "demo.db"

    def test_jsonl_reads_back_with_json(self, tmp_path: Path, demo_db: Path) -> None:
        """Every JSONL file is one JSON object per line; orders, positions, trail, recon."""
        out = tmp_path / "export"

        assert main(["export", "--db", str(demo_db), "--out", str(out)]) == 0

        read = {
            name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
            for name in ("orders", "positions", "audit", "recon", "intents")
        }
        assert {o["state"] for o in read["orders"]} >= {"FILLED"}
        assert {p["symbol"] for p in read["positions"]} == {"BTC/EUR", "ETH/EUR"}
        assert [r["seq"] for r in read["audit"]] == list(range(1, len(read["audit"]) + 1))
        assert all(r["order"]["client_order_id"] == r["client_order_id"] for r in read["recon"])
        assert len(read["intents"]) == len(read["orders"])

    def test_csv_reads_back_with_csv(self, tmp_path: Path, demo_db: Path) -> None:
        """Every CSV file has a header and one row per record, nested fields flattened."""
        jsonl, out = tmp_path / "j", tmp_path / "c"
        assert main(["export", "--db", str(demo_db), "--out", str(jsonl)]) == 0

        assert main(["export", "--db", str(demo_db), "--out", str(out), "--format", "csv"]) == 0

        for name in ("orders", "positions", "audit", "recon", "intents"):
            with (out / f"{name}.csv").open(newline="", encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
            lines = (jsonl / f"{name}.jsonl").read_text().splitlines()
            assert len(rows) == len(lines), name
        with (out / "recon.csv").open(newline="", encoding="utf-8") as file:
            assert "order.state" in next(csv.reader(file))

    def test_nothing_is_overwritten(
        self, tmp_path: Path, demo_db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A second export into the same folder is refused, exit 2, the files unchanged."""
        out = tmp_path / "e"
        assert main(["export", "--db", str(demo_db), "--out", str(out)]) == 0
        before = {p: p.read_bytes() for p in out.iterdir()}

        code = main(["export", "--db", str(demo_db), "--out", str(out)])

        assert code == 2
        assert "refusing to overwrite" in capsys.readouterr().err
        assert {p: p.read_bytes() for p in out.iterdir()} == before


class TestDemo:
    def test_demo_prints_no_warning(self, tmp_path: Path) -> None:
        """`execfsm demo` with every warning an error runs, prints no warning, and says where
        it wrote."""
        env = {**os.environ, "PYTHONPATH": str(SRC)}

        result = subprocess.run(
            [sys.executable, "-W", "error", "-m", "execfsm", "demo", "--out", "d"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=env,
            cwd=tmp_path,
        )

        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr
        assert "wrote to d/: " in result.stdout

    def test_demo_with_db_elsewhere_says_where(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With --db outside the output folder, the store's path is printed in full."""
        db = tmp_path / "store" / "d.db"
        db.parent.mkdir()

        assert main(["demo", "--out", str(tmp_path / "out"), "--db", str(db)]) == 0

        out = capsys.readouterr().out
        assert f"wrote the session's store to {db}, {db}.venue.jsonl" in out
        assert "d.db" not in next(line for line in out.splitlines() if line.startswith("wrote to"))

    def test_the_license_needs_no_deprecated_table(self) -> None:
        """The pyproject's license is an SPDX expression (no setuptools deprecation warning
        on install), with a setuptools that reads it."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

        assert project["project"]["license"] == "LicenseRef-Proprietary"
        assert "setuptools>=77" in project["build-system"]["requires"]
        assert any(d.startswith("tqdm") for d in project["project"]["dependencies"])
