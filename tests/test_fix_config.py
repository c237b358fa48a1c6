"""
The FIX session's config file: QuickFIX's own format, checked with one-line errors, and
credentials that reach the venue's Logon and nothing else (no log, no store, no trail).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.config import config_from_settings, parse_settings
from execfsm.errors import ConfigurationError
from tests.fix_rig import FixRig

GOOD = """\
# execfsm's side of the session
[DEFAULT]
ConnectionType=initiator
HeartBtInt=30
ReconnectInterval=5
FileStorePath=var/fix
Password=s3cr3t-pw

[SESSION]
BeginString=FIX.4.4
SenderCompID=EXECFSM
TargetCompID=VENUE
SocketConnectHost=127.0.0.1
SocketConnectPort=9876
"""


def refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fix.cfg"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    return str(caught.value)


class TestLoad:
    """A good file loads; a bad one is refused in one line naming the key."""

    def test_a_good_file_loads_with_safe_defaults(self, tmp_path: Path) -> None:
        """The session's keys override the defaults; PersistMessages is forced to N."""
        path = tmp_path / "fix.cfg"
        path.write_text(GOOD)
        config = load_config(path)

        assert config.sender == "EXECFSM"
        assert config.target == "VENUE"
        assert config.settings["SocketConnectPort"] == "9876"
        assert config.settings["PersistMessages"] == "N"
        assert config.response_timeout == 5.0
        assert "Password" not in config.settings

    def test_other_quickfix_keys_pass_through(self, tmp_path: Path) -> None:
        """A QuickFIX key execfsm does not check (DataDictionary, SocketUseSSL) reaches QuickFIX."""
        path = tmp_path / "fix.cfg"
        path.write_text(GOOD + "DataDictionary=FIX44.xml\nSocketUseSSL=N\n")
        settings = load_config(path).settings

        assert settings["DataDictionary"] == "FIX44.xml"
        assert settings["SocketUseSSL"] == "N"

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (("SocketConnectPort=9876", "SocketConnectPort=abc"), "SocketConnectPort: must be"),
            (("SocketConnectPort=9876", "SocketConnectPort=70000"), "in 1..65535, got '70000'"),
            (("SocketConnectPort=9876\n", ""), "SocketConnectPort: is required"),
            (("TargetCompID=VENUE\n", ""), "TargetCompID: is required"),
            (("FileStorePath=var/fix\n", ""), "FileStorePath: is required"),
            (("HeartBtInt=30", "HeartBtInt=0"), "HeartBtInt: must be an integer in 1..3600"),
            (("FIX.4.4", "FIX.4.2"), "BeginString: must be FIX.4.4, got 'FIX.4.2'"),
            (("=initiator", "=acceptor"), "ConnectionType: must be initiator"),
            (("[SESSION]", "[OTHER]"), "unknown section [OTHER]"),
            (("[SESSION]\n", ""), "needs exactly one [SESSION] section, found 0"),
            (("HeartBtInt=30", "HeartBtInt"), "line 4: expected Key=Value"),
            (("HeartBtInt=30", "HeartBtInt=30\nResponseTimeout=-1"), "ResponseTimeout: must"),
        ],
    )
    def test_a_bad_file_is_refused_in_one_line(
        self, tmp_path: Path, change: tuple[str, str], expected: str
    ) -> None:
        """Each defect is named with its key, rule and value, on one line."""
        message = refusal(tmp_path, GOOD.replace(*change))

        assert expected in message
        assert "\n" not in message
        assert message.startswith(str(tmp_path / "fix.cfg"))

    def test_a_missing_file_is_refused(self, tmp_path: Path) -> None:
        """A file that cannot be read is a ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match="cannot read the FIX config"):
            load_config(tmp_path / "absent.cfg")

    def test_a_second_session_is_refused(self) -> None:
        """One adapter runs one session: two [SESSION] sections are refused."""
        with pytest.raises(ConfigurationError, match="found 2"):
            parse_settings(GOOD + "[SESSION]\nSenderCompID=B\n")


class TestCredentials:
    """Username and Password reach the Logon, and never a log, a store, a repr or the trail."""

    def test_the_password_is_never_shown(self) -> None:
        """Neither the config's repr nor a refusal about the password shows it."""
        config = config_from_settings(parse_settings(GOOD))

        assert "s3cr3t-pw" not in repr(config)
        assert "s3cr3t-pw" not in str(config.settings)
        assert str(config.password) == "***"
        assert config.password is not None
        assert config.password.value == "s3cr3t-pw"

    def test_a_refused_credential_is_not_shown(self) -> None:
        """A blank or padded Password is refused without its value."""
        with pytest.raises(ConfigurationError) as caught:
            config_from_settings({**parse_settings(GOOD), "Password": " s3cr3t-pw"})

        assert str(caught.value) == (
            "FIX config: Password: must be set, without surrounding blanks, got ***"
        )

    def test_credentials_go_on_the_logon_and_nowhere_else(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The venue sees 553/554 on the Logon; the log, our store files and the trail do not."""
        with caplog.at_level(logging.DEBUG):
            rig = FixRig(tmp_path, extra="Username=trader7\nPassword=s3cr3t-pw\n")
            try:
                rig.submit("0.1")
                rig.settle()
                trail = rig.orch.audit_log.export_jsonl()
            finally:
                rig.close()

        assert rig.venue.logons[0] == {553: "trader7", 554: "s3cr3t-pw"}
        assert "s3cr3t-pw" not in caplog.text
        assert "s3cr3t-pw" not in trail
        ours = [p for p in (tmp_path / "ours").rglob("*") if p.is_file()]
        assert ours  # the store and the ClOrdID journal exist
        for path in ours:
            assert b"s3cr3t-pw" not in path.read_bytes(), path


class TestQuickFixRefusal:
    """What QuickFIX itself refuses when the session starts is a ConfigurationError too."""

    def test_a_missing_data_dictionary_is_refused_at_start(self, tmp_path: Path) -> None:
        """A DataDictionary file that does not exist: one ConfigurationError naming the session."""
        from execfsm.adapters.fix.adapter import FixAdapter
        from execfsm.clock import SystemClock
        from execfsm.testing.fix_acceptor import FixAcceptor

        venue = FixAcceptor(tmp_path / "venue")  # not started: nothing to connect to
        path = tmp_path / "fix.cfg"
        extra = f"UseDataDictionary=Y\nDataDictionary={tmp_path / 'absent.xml'}\n"
        path.write_text(venue.initiator_config(tmp_path / "ours", extra=extra))
        adapter = FixAdapter(load_config(path), SystemClock())

        with pytest.raises(ConfigurationError, match=f"FIX session {venue.target}->"):
            adapter.start()
        adapter.stop()
