"""Quality filters for generated examples. Each records pass/fail with a reason code and a score.

The interface is in :mod:`.base`; the chain (``build_context``, ``run_filters``, ``enabled_filters``,
``FilterOutcome``) in :mod:`.chain`, re-exported here lazily (importing this package stays cheap).
"""

from __future__ import annotations

from typing import Any

_CHAIN = ("build_context", "run_filters", "enabled_filters", "FilterOutcome", "REASON_CODES", "REASON_HINTS")


def __getattr__(name: str) -> Any:
    if name in _CHAIN:
        from core.generate.filters import chain

        return getattr(chain, name)
    raise AttributeError(name)
