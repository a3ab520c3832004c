"""Which providers a project's listings and searches go to (issue 8). Pure: no I/O.

Seed 004: "in the long term we will want to keep track for each project what keystones". OCX
records, per local project, what it learned at each provider when it credited the project
there (``ocx.identity.usage``): the remote project its calls use, or that the provider holds
nothing of it (the K2K exchange found no project the federated user can use there). A listing
(an aggregate) or a search then goes to a provider when:

1. it is the project's **home** (always: the caller's own cloud);
2. the operator lists it for the project (``[project:ID_OR_NAME] providers``);
3. the project has a remote project there (a **foreign** provider of the project);
4. the project has **never been tried** there: it is tried once, so that a provider is
   discovered without configuration (a failure to get credentials there, other than "holds
   nothing", teaches nothing, and it is tried again next time);
5. it was found to **hold nothing** longer than ``recheck`` ago: tried again, so that a
   project that got a remote project there since is found.

A provider found to hold nothing less than ``recheck`` ago is skipped, with no K2K exchange
and no call. Creates and calls that name a provider are not narrowed: they go where asked, and
what the credit learns there is recorded like any other.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol


class Known(Protocol):
    """What is recorded of a project at a provider (``store.Known``)."""

    holds_nothing: bool      # the provider holds no project of it
    seen_at: dt.datetime     # when that was last learned


def select_targets(candidates: Sequence[str], *, home: str,
                   recorded: Mapping[str, Known], configured: Collection[str],
                   now: dt.datetime, recheck: dt.timedelta) -> tuple[str, ...]:
    """The ``candidates`` (in their order) a project's listing or search goes to.

    ``recorded``: what is known of the project, by provider; ``configured``: the providers the
    operator lists for it; ``recheck``: how long "holds nothing" is believed.
    """
    return tuple(p for p in candidates
                 if wanted(p, home=home, known=recorded.get(p), configured=configured,
                           now=now, recheck=recheck))


def wanted(provider: str, *, home: str, known: Known | None,
           configured: Collection[str], now: dt.datetime, recheck: dt.timedelta) -> bool:
    """One provider, by the rule in this module's docstring."""
    if provider == home or provider in configured:
        return True
    if known is None or not known.holds_nothing:
        return True
    return now - known.seen_at >= recheck
