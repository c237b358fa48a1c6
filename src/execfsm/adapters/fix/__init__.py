"""
A FIX 4.4 venue adapter on QuickFIX (``pip install execfsm[fix]``).

`load_config` reads the operator's QuickFIX settings file; `FixAdapter` (imported from
``execfsm.adapters.fix.adapter``, which needs ``quickfix``) runs the session. The ExecType
table is `execfsm.adapters.fix.mapping.EXEC_TYPES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from execfsm.adapters.fix.config import FixConfig, load_config

if TYPE_CHECKING:
    from execfsm.adapters.fix.adapter import FixAdapter

__all__ = ["FixAdapter", "FixConfig", "load_config"]


def __getattr__(name: str) -> Any:
    if name == "FixAdapter":  # only this needs quickfix
        from execfsm.adapters.fix.adapter import FixAdapter

        return FixAdapter
    raise AttributeError(name)
