"""
``python -m execfsm``: the ``execfsm`` command.
"""

from __future__ import annotations

import sys

from execfsm.cli import main

if __name__ == "__main__":
    sys.exit(main())
