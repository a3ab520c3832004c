"""Spanning networks in SQL (issue 7): the VNIs handed out, each provider's twin, the subnets.

Every VNI ever handed out keeps its row, so none is handed out twice; two OCX workers that pick
the same free VNI at once are told apart by the primary key (the loser picks again). A twin is
claimed by inserting its row before it is made, so that two boots at once, in one worker or in
several, make one twin per provider: the loser waits for the winner's twin id.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import SpanningNetwork, SpanningSubnet, SpanningView, Twin, utcnow
from .schema import spanning_networks, spanning_subnet_twins, spanning_subnets, spanning_twins

# Tries at a free VNI before giving up when other workers keep taking the one picked.
VNI_TRIES = 20

Decide = Callable[[Sequence[tuple[int, int]], list[int]], "int | None"]


class SpanningStore:
    """The spanning networks' rows; shares the mapping store's engine."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    # -- VNIs -------------------------------------------------------------------------------

    async def reserve_vni(self, ranges: Sequence[tuple[int, int]], decide: Decide,
                          project_id: str, origin: str) -> int | None:
        """Hand out a VNI of ``ranges`` (``decide(ranges, taken)`` picks it) for a network
        about to be made; None when every VNI of the ranges was handed out already."""
        n = spanning_networks
        in_ranges = sa.or_(*(n.c.vni.between(lo, hi) for lo, hi in ranges))
        for _ in range(VNI_TRIES):
            async with self.engine.connect() as conn:
                taken = list((await conn.execute(sa.select(n.c.vni).where(in_ranges))).scalars())
            vni = decide(ranges, taken)
            if vni is None:
                return None
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(n.insert().values(
                        vni=vni, network_id=None, project_id=project_id, origin=origin,
                        template={}, allocated_at=self._clock(), deleted_at=None))
            except IntegrityError:
                continue   # another worker took it meanwhile
            return vni
        raise RuntimeError("no VNI could be reserved: other workers kept taking them")

    async def release_vni(self, vni: int) -> None:
        """Give back a VNI whose network the cloud refused to make (it never carried traffic)."""
        n = spanning_networks
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(n).where(n.c.vni == vni, n.c.network_id.is_(None)))

    async def bind_vni(self, vni: int, network_id: str, template: Mapping) -> None:
        """The network was made: the VNI is its, the origin's network its own twin."""
        n, t = spanning_networks, spanning_twins
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(n.c.origin).where(n.c.vni == vni))).first()
            await conn.execute(n.update().where(n.c.vni == vni).values(
                network_id=network_id, template=dict(template)))
            await conn.execute(t.insert().values(network_id=network_id, provider=row.origin,
                                                 twin_id=network_id, claimed_at=self._clock()))

    async def vnis(self) -> list[int]:
        """Every VNI handed out, live or not, in order."""
        async with self.engine.connect() as conn:
            return list((await conn.execute(
                sa.select(spanning_networks.c.vni).order_by(spanning_networks.c.vni))).scalars())

    # -- networks ---------------------------------------------------------------------------

    async def network(self, network_id: str) -> SpanningNetwork | None:
        """The live spanning network with this id, or None."""
        n = spanning_networks
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(n).where(
                n.c.network_id == network_id, n.c.deleted_at.is_(None)))).first()
        return _network(row) if row is not None else None

    async def deleted(self, network_id: str) -> None:
        """The network is gone: its twins and subnets are forgotten, its VNI kept."""
        n, t, s, st = spanning_networks, spanning_twins, spanning_subnets, spanning_subnet_twins
        async with self.engine.begin() as conn:
            subnets = sa.select(s.c.subnet_id).where(s.c.network_id == network_id)
            await conn.execute(sa.delete(st).where(st.c.subnet_id.in_(subnets)))
            await conn.execute(sa.delete(s).where(s.c.network_id == network_id))
            await conn.execute(sa.delete(t).where(t.c.network_id == network_id))
            await conn.execute(n.update().where(n.c.network_id == network_id,
                                                n.c.deleted_at.is_(None))
                               .values(deleted_at=self._clock()))

    async def view(self, project_id: str) -> SpanningView:
        """Every twin (and twin subnet) of the project's live spanning networks."""
        n, t, s, st = spanning_networks, spanning_twins, spanning_subnets, spanning_subnet_twins
        live = sa.select(n.c.network_id).where(n.c.project_id == project_id,
                                                n.c.deleted_at.is_(None))
        async with self.engine.connect() as conn:
            twins = (await conn.execute(sa.select(t.c.network_id, t.c.twin_id).where(
                t.c.network_id.in_(live), t.c.twin_id.is_not(None)))).all()
            subnets = (await conn.execute(
                sa.select(st.c.subnet_id, st.c.twin_subnet_id)
                .join(s, s.c.subnet_id == st.c.subnet_id)
                .where(s.c.network_id.in_(live)))).all()
        twins_of: dict[str, list[str]] = {}
        for network_id, twin_id in twins:
            twins_of.setdefault(network_id, []).append(twin_id)
        return SpanningView(
            networks={twin_id: network_id for network_id, twin_id in twins},
            subnets={twin: subnet for subnet, twin in subnets},
            twins_of={k: tuple(v) for k, v in twins_of.items()})

    # -- twins ------------------------------------------------------------------------------

    async def twins(self, network_id: str) -> list[Twin]:
        t = spanning_twins
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t).where(t.c.network_id == network_id)
                                       .order_by(t.c.provider))).all()
        return [Twin(r.network_id, r.provider, r.twin_id, r.claimed_at) for r in rows]

    async def twin(self, network_id: str, provider: str) -> Twin | None:
        t = spanning_twins
        async with self.engine.connect() as conn:
            r = (await conn.execute(sa.select(t).where(
                t.c.network_id == network_id, t.c.provider == provider))).first()
        return Twin(r.network_id, r.provider, r.twin_id, r.claimed_at) if r else None

    async def claim_twin(self, network_id: str, provider: str,
                         stale: dt.datetime | None = None) -> bool:
        """Claim the making of the twin in ``provider``: True if this caller is to make it.

        ``stale``: the claim time of an unfinished claim that is taken over (its maker is
        presumed dead); only that exact claim is taken over.
        """
        t = spanning_twins
        now = self._clock()
        try:
            async with self.engine.begin() as conn:
                if stale is None:
                    await conn.execute(t.insert().values(network_id=network_id,
                                                         provider=provider, twin_id=None,
                                                         claimed_at=now))
                    return True
                taken = await conn.execute(t.update().where(
                    t.c.network_id == network_id, t.c.provider == provider,
                    t.c.twin_id.is_(None), t.c.claimed_at == stale).values(claimed_at=now))
                return taken.rowcount == 1
        except IntegrityError:
            return False

    async def unclaim_twin(self, network_id: str, provider: str) -> None:
        """The twin could not be made: the next port asked there tries again."""
        t = spanning_twins
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t).where(t.c.network_id == network_id,
                                                  t.c.provider == provider,
                                                  t.c.twin_id.is_(None)))

    async def twin_made(self, network_id: str, provider: str, twin_id: str,
                        subnets: Mapping[str, str]) -> None:
        """The twin and its subnets (spanning subnet id → twin subnet id) exist."""
        t, st = spanning_twins, spanning_subnet_twins
        async with self.engine.begin() as conn:
            await conn.execute(t.update().where(t.c.network_id == network_id,
                                                t.c.provider == provider)
                               .values(twin_id=twin_id))
            if subnets:
                await conn.execute(st.insert(), [
                    {"subnet_id": s, "provider": provider, "twin_subnet_id": twin}
                    for s, twin in subnets.items()])

    async def twins_gone(self, network_id: str, providers: Sequence[str]) -> None:
        """These twins were deleted (with their subnets)."""
        t, s, st = spanning_twins, spanning_subnets, spanning_subnet_twins
        async with self.engine.begin() as conn:
            subnets = sa.select(s.c.subnet_id).where(s.c.network_id == network_id)
            await conn.execute(sa.delete(st).where(st.c.subnet_id.in_(subnets),
                                                   st.c.provider.in_(providers)))
            await conn.execute(sa.delete(t).where(t.c.network_id == network_id,
                                                  t.c.provider.in_(providers)))

    # -- subnets ----------------------------------------------------------------------------

    async def add_subnet(self, subnet: SpanningSubnet,
                         twins: Mapping[str, str] | None = None) -> None:
        """A subnet made in the origin, and (provider → twin subnet id) in the twins so far."""
        s, st = spanning_subnets, spanning_subnet_twins
        async with self.engine.begin() as conn:
            await conn.execute(s.insert().values(subnet_id=subnet.subnet_id,
                                                 network_id=subnet.network_id,
                                                 template=subnet.template,
                                                 pools=subnet.pools))
            if twins:
                await conn.execute(st.insert(), [
                    {"subnet_id": subnet.subnet_id, "provider": p, "twin_subnet_id": twin}
                    for p, twin in twins.items()])

    async def subnets(self, network_id: str) -> list[SpanningSubnet]:
        s = spanning_subnets
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(s).where(s.c.network_id == network_id)
                                       .order_by(s.c.subnet_id))).all()
        return [SpanningSubnet(r.subnet_id, r.network_id, r.template, r.pools) for r in rows]

    async def subnet(self, subnet_id: str) -> SpanningSubnet | None:
        s = spanning_subnets
        async with self.engine.connect() as conn:
            r = (await conn.execute(sa.select(s).where(s.c.subnet_id == subnet_id))).first()
        return SpanningSubnet(r.subnet_id, r.network_id, r.template, r.pools) if r else None

    async def twins_of_subnet(self, subnet_id: str) -> dict[str, str]:
        """Provider → the subnet's twin there."""
        st = spanning_subnet_twins
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(st.c.provider, st.c.twin_subnet_id).where(
                st.c.subnet_id == subnet_id))).all()
        return {provider: twin for provider, twin in rows}

    async def subnet_twins_gone(self, subnet_id: str, providers: Sequence[str]) -> None:
        st = spanning_subnet_twins
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(st).where(st.c.subnet_id == subnet_id,
                                                   st.c.provider.in_(providers)))

    async def subnet_deleted(self, subnet_id: str) -> None:
        """The subnet is gone from its origin: its twins are forgotten with it."""
        s, st = spanning_subnets, spanning_subnet_twins
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(st).where(st.c.subnet_id == subnet_id))
            await conn.execute(sa.delete(s).where(s.c.subnet_id == subnet_id))

    async def subnet_twins(self, network_id: str, provider: str) -> dict[str, str]:
        """Spanning subnet id → its twin in ``provider``."""
        s, st = spanning_subnets, spanning_subnet_twins
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(st.c.subnet_id, st.c.twin_subnet_id)
                .join(s, s.c.subnet_id == st.c.subnet_id)
                .where(s.c.network_id == network_id, st.c.provider == provider))).all()
        return {subnet: twin for subnet, twin in rows}


def _network(row) -> SpanningNetwork:
    return SpanningNetwork(row.network_id, row.vni, row.project_id, row.origin, row.template)
