"""
A FIX 4.4 venue adapter on QuickFIX (``pip install execfsm[fix]``).

`load_config` reads the operator's QuickFIX settings file (no QuickFIX needed for that);
``execfsm.adapters.fix.adapter.FixAdapter`` runs the session (it imports ``quickfix``). The
ExecType table is `execfsm.adapters.fix.mapping.EXEC_TYPES`.
"""

from __future__ import annotations

from execfsm.adapters.fix.config import FixConfig, load_config

__all__ = ["FixConfig", "load_config"]
