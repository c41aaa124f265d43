"""How many samples each department gets (pure, no I/O): proportional, largest remainder."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def sample_size(frame_size: int, size: int | None, share: float | None) -> int:
    """The samples to draw: `size`, or `share` % of the frame (half-up); never above it."""
    if size is None:
        assert share is not None
        size = int((Decimal(str(share)) * frame_size / 100).quantize(Decimal(1), ROUND_HALF_UP))
    return min(size, frame_size)


def allocate(counts: dict[str, int], size: int) -> dict[str, int]:
    """Split `size` over the strata in proportion to their counts (Hamilton's largest remainder;
    ties to the larger stratum, then the smaller code). Strata given none are left out."""
    total = sum(counts.values())
    if not total or not size:
        return {}
    exact = {code: Fraction(n * size, total) for code, n in counts.items()}
    quotas = {code: int(share) for code, share in exact.items()}
    left = size - sum(quotas.values())
    order = sorted(exact, key=lambda c: (-(exact[c] - quotas[c]), -counts[c], c))
    for code in order[:left]:
        quotas[code] += 1
    return {code: n for code, n in quotas.items() if n}
