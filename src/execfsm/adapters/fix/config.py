"""
The FIX session's settings, read from the file an operator writes in QuickFIX's own format
(``[DEFAULT]`` and one ``[SESSION]`` section of ``Key=Value`` lines).

Checked here, before QuickFIX sees them, so a bad file is refused with one line naming the
file, the key, the rule and the value (never a secret's value). ``Username`` and
``Password`` (FIX tags 553/554) are kept out of QuickFIX's settings and out of every repr:
the adapter puts them on the Logon only.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

import attrs

from execfsm.errors import ConfigurationError

REQUIRED: Final = (
    "SenderCompID",
    "TargetCompID",
    "SocketConnectHost",
    "SocketConnectPort",
    "HeartBtInt",
    "FileStorePath",
)
"""Keys the file must set (in ``[DEFAULT]`` or ``[SESSION]``)."""
SECRETS: Final = frozenset({"Password", "Username"})
"""Keys whose values never reach a log, an error, a repr or QuickFIX's settings."""
OURS: Final = frozenset({"ResponseTimeout"})
"""execfsm's own keys: not passed to QuickFIX."""
BEGIN_STRING: Final = "FIX.4.4"
_SET_HERE: Final = (
    "BeginString",
    "ConnectionType",
    "ReconnectInterval",
    "StartTime",
    "EndTime",
    "UseDataDictionary",
    "PersistMessages",
)
CANONICAL: Final = {key.lower(): key for key in (*REQUIRED, *SECRETS, *OURS, *_SET_HERE)}
"""The keys execfsm reads or sets, by their lower-case spelling: QuickFIX reads keys
case-insensitively, so ``persistmessages`` is ``PersistMessages`` (and ``password`` a
secret)."""


def canonical(key: str) -> str:
    """`key` as execfsm spells it, if it is one execfsm reads or sets; else as given."""
    return CANONICAL.get(key.lower(), key)


def is_secret(key: str) -> bool:
    """Whether `key` (in any case) names a credential."""
    return canonical(key) in SECRETS


@attrs.frozen
class Secret:
    """A credential: its repr and str never show the value."""

    value: str = attrs.field(repr=False)

    def __str__(self) -> str:
        return "***"


@attrs.frozen
class FixConfig:
    """
    One initiator session's settings.

    Args:
        settings: Every QuickFIX key of the session (``ConnectionType=initiator``,
            ``BeginString=FIX.4.4`` and ``PersistMessages=N`` set; see `load_config`).
        response_timeout: Seconds a request waits for the venue's first answer before its
            outcome is unknown (``ResponseTimeout``, default 5).
        username: Logon tag 553, if set.
        password: Logon tag 554, if set.
    """

    settings: Mapping[str, str]
    response_timeout: float = 5.0
    username: Secret | None = None
    password: Secret | None = None

    @property
    def sender(self) -> str:
        """Our SenderCompID."""
        return self.settings["SenderCompID"]

    @property
    def target(self) -> str:
        """The venue's CompID (our TargetCompID)."""
        return self.settings["TargetCompID"]


def _refuse(source: str, key: str, rule: str, value: str | None) -> ConfigurationError:
    shown = "***" if is_secret(key) else repr(value)
    return ConfigurationError(f"{source}: {key}: {rule}, got {shown}", field=key, value=None)


def parse_settings(text: str, source: str = "FIX config") -> dict[str, str]:
    """
    The keys of `text` (QuickFIX format): ``[DEFAULT]`` then exactly one ``[SESSION]``, the
    session's keys overriding the defaults. Comments start with ``#``. Keys are
    case-insensitive, as QuickFIX reads them (the ones execfsm reads are spelled its way); a
    key given twice in one section (in any case) is refused, naming it and the section.
    """
    sections: list[tuple[str, dict[str, tuple[str, str]]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().upper()
            if name not in ("DEFAULT", "SESSION"):
                raise ConfigurationError(
                    f"{source}: line {number}: unknown section [{name}] (DEFAULT or SESSION)",
                    field="section",
                    value=name,
                )
            sections.append((name, {}))
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(
                f"{source}: line {number}: expected Key=Value or [SECTION]",
                field="line",
                value=number,
            )
        if not sections:
            raise ConfigurationError(
                f"{source}: line {number}: {key} before any [DEFAULT] or [SESSION] section",
                field=key,
                value=None,
            )
        section, keys = sections[-1]
        key = canonical(key)
        if key.lower() in keys:
            raise ConfigurationError(
                f"{source}: line {number}: {key} is given twice in [{section}] "
                "(keys are case-insensitive); give it once",
                field=key,
                value=None,
            )
        keys[key.lower()] = (key, value.strip())
    sessions = [keys for name, keys in sections if name == "SESSION"]
    if len(sessions) != 1:
        raise ConfigurationError(
            f"{source}: needs exactly one [SESSION] section, found {len(sessions)}",
            field="SESSION",
            value=len(sessions),
        )
    merged: dict[str, tuple[str, str]] = {}
    for name, keys in sections:
        if name == "DEFAULT":
            merged.update(keys)
    merged.update(sessions[0])
    return dict(merged.values())


def _integer(source: str, keys: Mapping[str, str], key: str, low: int, high: int) -> None:
    value = keys[key]
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise _refuse(source, key, f"must be an integer in {low}..{high}", value)


def config_from_settings(keys: Mapping[str, str], source: str = "FIX config") -> FixConfig:
    """
    The checked `FixConfig` of parsed `keys` (case-insensitive: a key given twice in two
    spellings is refused).
    """
    spelled: dict[str, str] = {}
    for given in keys:
        key = canonical(given)
        if key.lower() in spelled:
            raise ConfigurationError(
                f"{source}: {key} is given twice ({spelled[key.lower()]}, {given}; keys are "
                "case-insensitive); give it once",
                field=key,
                value=None,
            )
        spelled[key.lower()] = given
    keys = {canonical(k): v for k, v in keys.items()}
    for key in REQUIRED:
        if not keys.get(key, "").strip():
            raise _refuse(source, key, "is required", keys.get(key))
    for key in sorted(SECRETS & set(keys)):
        if not keys[key] or keys[key] != keys[key].strip():
            raise _refuse(source, key, "must be set, without surrounding blanks", keys[key])
    settings = {k: v for k, v in keys.items() if k not in SECRETS and k not in OURS}
    begin = settings.setdefault("BeginString", BEGIN_STRING)
    if begin != BEGIN_STRING:
        raise _refuse(source, "BeginString", f"must be {BEGIN_STRING}", begin)
    kind = settings.setdefault("ConnectionType", "initiator")
    if kind != "initiator":
        raise _refuse(source, "ConnectionType", "must be initiator (execfsm connects out)", kind)
    _integer(source, settings, "SocketConnectPort", 1, 65535)
    _integer(source, settings, "HeartBtInt", 1, 3600)
    settings.setdefault("ReconnectInterval", "5")
    _integer(source, settings, "ReconnectInterval", 1, 3600)
    settings.setdefault("StartTime", "00:00:00")
    settings.setdefault("EndTime", "00:00:00")
    settings.setdefault("UseDataDictionary", "N")
    # Our requests are never replayed by the engine after a reconnect: one lost in a
    # disconnect is an unknown outcome, resolved by a status request (and the store never
    # holds the Logon's password).
    settings["PersistMessages"] = "N"
    timeout = 5.0
    raw = keys.get("ResponseTimeout")
    if raw is not None:
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal(-1)
        if not number.is_finite() or not 0 < number <= 3600:
            raise _refuse(source, "ResponseTimeout", "must be seconds in (0, 3600]", raw)
        timeout = float(number)  # a wait, not an amount
    return FixConfig(
        settings,
        timeout,
        Secret(keys["Username"]) if "Username" in keys else None,
        Secret(keys["Password"]) if "Password" in keys else None,
    )


def load_config(path: Path | str) -> FixConfig:
    """
    The session settings in the file at `path`.

    Raises:
        ConfigurationError: The file cannot be read, or a key is missing or bad (one line).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{source}: cannot read the FIX config: {type(exc).__name__}",
            field="path",
            value=source,
        ) from None
    return config_from_settings(parse_settings(text, source), source)
