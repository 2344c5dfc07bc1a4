"""PnL attribution: the session PnL split into spread capture, adverse selection, inventory, fees and funding.

For a fill ``i`` (side ``s`` = +1 buy, size ``q``, price ``p``) with mid ``m_i`` when it happened, the mid
``m_h`` one markout horizon later (the ``markouts`` estimator's ``adverse_horizon_secs``) and the final mark
``M``::

    spread capture     = sum s q (m_i - p)       what we earned against the mid at the fill
    adverse selection  = sum s q (m_h - m_i)     how the mid moved against (negative) or for us right after
    inventory          = sum s q (M - m_h)       the later mark-to-market of what we held
                         + p0 (M - e0)           ... and of the position adopted at start (entry e0)
    fees               = -fees paid (rebates positive)
    funding            = funding received

While a fill is younger than the horizon, ``M`` stands in for ``m_h``. The first three add up to
``sum s q (M - p) + p0 (M - e0)``, which is realized plus unrealized PnL (the cash-flow identity the
:class:`~mmtool.core.portfolio.Portfolio` keeps), so the five components add up to the session's total PnL
exactly (all in ``Decimal``). The live tracker keeps running sums, so a split costs O(1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import TYPE_CHECKING

import attrs

from mmtool.core.rounding import to_decimal
from mmtool.core.runner import RunObserver
from mmtool.core.types import ZERO, Fill

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.config import Settings
    from mmtool.core.engine import Engine
    from mmtool.core.types import Action, Event

NS = 1_000_000_000
_EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)
COMPONENTS = ("spread_capture", "adverse_selection", "inventory", "fees", "funding")


@attrs.frozen
class PnlSplit:
    """The five PnL components in USD (each a contribution: negative costs) and their total."""

    spread_capture: Decimal = ZERO
    adverse_selection: Decimal = ZERO
    inventory: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """The sum of the components: the session's total PnL."""
        with localcontext(_EXACT):
            return self.spread_capture + self.adverse_selection + self.inventory + self.fees + self.funding

    def as_floats(self) -> dict[str, float]:
        """Components and ``total`` as floats, for metrics and JSON."""
        out = {name: float(getattr(self, name)) for name in COMPONENTS}
        out["total"] = float(self.total)
        return out


@attrs.frozen
class AttributedFill:
    """What the attribution needs of one fill: side sign, size, price, mid at the fill, mid a horizon later."""

    sign: int
    size: Decimal
    price: Decimal
    mid: Decimal
    mid_h: Decimal | None = None


class PnlAttribution:
    """Running PnL attribution of one session; feed it fills and mids, ask for :meth:`split` at any time.

    ``resolved`` collects ``(trade_id, mid_h)`` as horizons pass when ``keep_resolved`` is set (the journal
    drains it to record each fill's later mid).
    """

    def __init__(
        self,
        horizon_secs: float = 5.0,
        start_position: Decimal = ZERO,
        start_entry: Decimal = ZERO,
        *,
        keep_resolved: bool = False,
    ) -> None:
        if not horizon_secs > 0:
            raise ValueError(f"horizon_secs must be > 0 (got {horizon_secs})")
        self.horizon_ns = int(horizon_secs * NS)
        self.start_position = start_position
        self.start_entry = start_entry
        self.keep_resolved = keep_resolved
        self.resolved: list[tuple[str, Decimal]] = []
        self.fills = 0
        self.last_mid: Decimal | None = None
        self._pending: deque[tuple[int, str, Decimal, Decimal]] = deque()  # (ts, trade_id, s*q, m_i)
        self._spread = ZERO
        self._q_res = ZERO  # sum s q over resolved fills
        self._mi_res = ZERO  # sum s q m_i over resolved fills
        self._mh_res = ZERO  # sum s q m_h over resolved fills
        self._q_pend = ZERO
        self._mi_pend = ZERO

    def set_start(self, position: Decimal, entry: Decimal) -> None:
        """The position (and its entry price) held before the first fill, e.g. adopted from the exchange."""
        self.start_position = position
        self.start_entry = entry

    def on_fill(self, trade_id: str, sign: int, size: Decimal, price: Decimal, mid: Decimal, ts_ns: int) -> None:
        """Record a (deduplicated) fill at ``ts_ns`` with the mid at that moment."""
        with localcontext(_EXACT):
            sq = sign * size
            self._spread += sq * (mid - price)
            self._q_pend += sq
            self._mi_pend += sq * mid
        self._pending.append((ts_ns, trade_id, sq, mid))
        self.fills += 1

    def on_mid(self, ts_ns: int, mid: float | Decimal) -> None:
        """A new mid at ``ts_ns``: fills whose horizon has passed take it as their ``m_h``."""
        pending = self._pending
        if not pending or ts_ns - pending[0][0] < self.horizon_ns:
            return
        m = to_decimal(mid)
        with localcontext(_EXACT):
            while pending and ts_ns - pending[0][0] >= self.horizon_ns:
                _, trade_id, sq, mi = pending.popleft()
                self._q_pend -= sq
                self._mi_pend -= sq * mi
                self._q_res += sq
                self._mi_res += sq * mi
                self._mh_res += sq * m
                if self.keep_resolved:
                    self.resolved.append((trade_id, m))

    def split(self, mark: Decimal | None, fees_paid: Decimal, funding: Decimal) -> PnlSplit:
        """The split at the current ``mark`` (the portfolio's mark price) with the session's fees and funding."""
        m = mark if mark is not None else ZERO
        with localcontext(_EXACT):
            adverse = (self._mh_res - self._mi_res) + (m * self._q_pend - self._mi_pend)
            held = self.start_position * m - self.start_position * self.start_entry
            inventory = (m * self._q_res - self._mh_res) + held
            if mark is None:
                inventory = ZERO
            return PnlSplit(self._spread, adverse, inventory, -fees_paid, funding)


def attribute(
    fills: Iterable[AttributedFill],
    mark: Decimal | None,
    fees_paid: Decimal,
    funding: Decimal,
    start_position: Decimal = ZERO,
    start_entry: Decimal = ZERO,
) -> PnlSplit:
    """The split computed from fill records (for reports from the journal); a missing ``mid_h`` means the
    horizon had not passed, and the mark stands in for it, exactly as in :class:`PnlAttribution`."""
    m = mark if mark is not None else ZERO
    spread = adverse = inventory = ZERO
    with localcontext(_EXACT):
        for f in fills:
            sq = f.sign * f.size
            mid_h = f.mid_h if f.mid_h is not None else m
            spread += sq * (f.mid - f.price)
            adverse += sq * (mid_h - f.mid)
            inventory += sq * (m - mid_h)
        inventory += start_position * m - start_position * start_entry
        if mark is None:
            inventory = ZERO
        return PnlSplit(spread, adverse, inventory, -fees_paid, funding)


class AttributionObserver(RunObserver):
    """Feeds a :class:`PnlAttribution` from the session: new fills with the mid at the time, and the mid after
    every market event (a horizon check, O(1) unless a fill's horizon passed)."""

    name = "pnl-attribution"
    #: Watches only: told about each event after its actions were submitted, off the order path.
    before_send = False

    def __init__(self, attribution: PnlAttribution) -> None:
        self.attribution = attribution
        self._fills = 0

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Take the position the engine starts from (adopted from the exchange) as the starting inventory."""
        portfolio = engine.portfolio
        self.attribution.set_start(portfolio.position, portfolio.entry_price)
        self._fills = portfolio.fills

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """Record a fill the portfolio accepted; resolve horizons with the current mid."""
        mid = engine.market.mid
        if type(event) is Fill and engine.portfolio.fills != self._fills:
            self._fills = engine.portfolio.fills
            mark = to_decimal(mid) if mid is not None else event.price
            self.attribution.on_fill(event.trade_id, event.side.sign, event.size, event.price, mark,
                                     event.ts_local_ns)
        if mid is not None:
            self.attribution.on_mid(engine.now_ns, mid)


def adverse_horizon_secs(settings: Settings) -> float:
    """The markout horizon behind ``adverse_selection_bps`` (``[plugins.markouts] adverse_horizon_secs``, 5 s)."""
    table = settings.plugins.get("markouts", {})
    value = table.get("adverse_horizon_secs", 5.0) if isinstance(table, dict) else 5.0
    return float(value) if isinstance(value, int | float) and value > 0 else 5.0
