"""VXLAN network identifiers for spanning networks (issue 7). Pure.

OCX hands out one VNI per spanning network from the configured ranges (``[spanning]
vni_ranges``, written as Neutron's ML2 ``vni_ranges``: ``FIRST:LAST`` pairs). A VNI once
handed out is never handed out again, even after its network is deleted: a cloud that was
down during the delete may still carry a twin with it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

# A VXLAN header carries 24 bits; Neutron's ML2 accepts 1 .. 2**24 - 1.
MIN_VNI = 1
MAX_VNI = 2 ** 24 - 1

VniRange = tuple[int, int]   # first and last, inclusive


def parse_ranges(values: Iterable[str]) -> tuple[VniRange, ...]:
    """``["4096:8191", "20000:20999"]`` → ``((4096, 8191), (20000, 20999))``, checked: each
    ``FIRST:LAST`` with FIRST ≤ LAST inside 1 .. 2**24-1, no two overlapping."""
    ranges: list[VniRange] = []
    for value in values:
        first, sep, last = value.strip().partition(":")
        if not sep or not first.strip().isdigit() or not last.strip().isdigit():
            raise ValueError(f"VNI range {value!r} is not FIRST:LAST")
        lo, hi = int(first), int(last)
        if not MIN_VNI <= lo <= hi <= MAX_VNI:
            raise ValueError(f"VNI range {value!r} is not within {MIN_VNI}:{MAX_VNI} with "
                             f"FIRST <= LAST")
        ranges.append((lo, hi))
    ranges.sort()
    for (a1, b1), (a2, b2) in zip(ranges, ranges[1:]):
        if a2 <= b1:
            raise ValueError(f"VNI ranges {a1}:{b1} and {a2}:{b2} overlap")
    return tuple(ranges)


def first_free(ranges: Sequence[VniRange], taken: Iterable[int]) -> int | None:
    """The lowest VNI of ``ranges`` not in ``taken`` (every VNI ever handed out); None when
    the ranges are used up."""
    used = set(taken)
    for lo, hi in ranges:
        # Within a range, the taken ones below the first gap are skipped in one pass.
        candidate = lo
        for vni in sorted(v for v in used if lo <= v <= hi):
            if vni != candidate:
                break
            candidate += 1
        if candidate <= hi:
            return candidate
    return None


def describe(ranges: Sequence[VniRange]) -> str:
    return ", ".join(f"{lo}:{hi}" for lo, hi in ranges)
