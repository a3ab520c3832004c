"""Where a project's listings and searches go: the rule of ``ocx.routing.targets`` applied to
what ``ocx.identity.usage`` recorded of the caller's project and what the operator configured.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..routing.targets import select_targets


async def narrowed(usage, caller, candidates: Sequence[str], home: str) -> tuple[str, ...]:
    """The ``candidates`` the caller's project's listing or search goes to (all of them when
    OCX records no usage)."""
    if usage is None:
        return tuple(candidates)
    return select_targets(candidates, home=home,
                          recorded=await usage.recorded(caller.project_id),
                          configured=usage.configured_for(caller.project_id,
                                                          caller.project_name),
                          now=usage.clock(), recheck=usage.recheck)
