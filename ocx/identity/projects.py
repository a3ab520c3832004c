"""Which project at a service provider stands for the caller's home project.

The rule, first match wins:

1. **The configured map.** ``project_map`` (``[provider:NAME] project_map``) maps the local
   project's id, or else its name, to a remote project id or name. A mapped project the
   federated user cannot scope to is an error, not a reason to guess.
2. **The same name.** The remote project with the local project's name.
3. **The only one.** The one project the federated user can scope to, whatever its name.

Otherwise :class:`~ocx.identity.errors.NoRemoteProject`, saying how many candidates there were.
A name held by projects of several domains is ambiguous and also an error.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import NoRemoteProject


@dataclass(frozen=True)
class RemoteProject:
    """A project the federated user can scope to at a service provider."""

    id: str
    name: str
    domain_id: str | None = None


def _plural(n: int) -> str:
    return f"{n} project" + ("" if n == 1 else "s")


def _one(matches: list[RemoteProject], what: str, candidates: int) -> RemoteProject:
    if len(matches) > 1:
        raise NoRemoteProject(f"{what} is ambiguous: {len(matches)} of the {_plural(candidates)} "
                              f"the federated user can use have that name", candidates)
    return matches[0]


def choose_remote_project(local_project_id: str, local_project_name: str,
                          candidates: Sequence[RemoteProject],
                          project_map: Mapping[str, str]) -> RemoteProject:
    """The remote project for a local one, by the rule in this module's docstring."""
    n = len(candidates)
    target = project_map.get(local_project_id, project_map.get(local_project_name))
    if target is not None:
        by_id = [p for p in candidates if p.id == target]
        matches = by_id or [p for p in candidates if p.name == target]
        if not matches:
            raise NoRemoteProject(
                f"local project {local_project_name} is mapped to {target}, which is not one "
                f"of the {_plural(n)} the federated user can use there", n)
        return _one(matches, f"remote project {target}", n)
    same_name = [p for p in candidates if p.name == local_project_name]
    if same_name:
        return _one(same_name, f"remote project {local_project_name}", n)
    if n == 1:
        return candidates[0]
    if n == 0:
        raise NoRemoteProject("the federated user has no project there", 0)
    raise NoRemoteProject(
        f"none of the {_plural(n)} the federated user can use there is named "
        f"{local_project_name}; map local project {local_project_name} to one of them "
        f"(project_map)", n)


@dataclass(frozen=True)
class ProjectRule:
    """The rule for one service provider: :func:`choose_remote_project` with its map."""

    project_map: Mapping[str, str] = field(default_factory=dict)

    def choose(self, local_project_id: str, local_project_name: str,
               candidates: Sequence[RemoteProject]) -> RemoteProject:
        return choose_remote_project(local_project_id, local_project_name, candidates,
                                     self.project_map)
