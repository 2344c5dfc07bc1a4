"""The simulator's ground truth for one account: position, entry, realized PnL, fees, funding and balance."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from mmtool.core.types import ZERO, Liquidity, Side

#: USDC amounts (fees, funding) carry six decimals, as on Hyperliquid.
USDC_QUANTUM = Decimal("0.000001")


def usdc(amount: Decimal) -> Decimal:
    """Round a USDC amount to the exchange's six decimals (half-even)."""
    return amount.quantize(USDC_QUANTUM, rounding=ROUND_HALF_EVEN)


@attrs.frozen
class FillRecord:
    """One fill of one of our orders, as the exchange records it (Hyperliquid's ``userFills`` fields).

    ``fee`` is paid (positive); ``closed_pnl`` is the realized PnL of the part that reduced the position,
    before fees; ``start_position`` is the signed position before the fill.
    """

    tid: str
    hash: str
    ts_ns: int
    cloid: str | None
    oid: int
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    start_position: Decimal
    closed_pnl: Decimal

    @property
    def crossed(self) -> bool:
        """True for a taker fill (Hyperliquid's ``crossed``)."""
        return self.liquidity is Liquidity.TAKER


@attrs.frozen
class AccountState:
    """A snapshot of the account: every figure in USDC except ``position`` (signed, asset units).

    ``balance`` is the deposit plus realized PnL, less fees, plus funding; ``account_value`` adds the
    unrealized PnL at ``mark``.
    """

    position: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    balance: Decimal
    unrealized_pnl: Decimal
    account_value: Decimal
    mark: Decimal | None


class Account:
    """Mutable ledger of one account: average-entry position accounting, fees and funding."""

    def __init__(self, deposit: Decimal) -> None:
        self.deposit = deposit
        self.position = ZERO
        self.entry_price = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.funding = ZERO

    @property
    def balance(self) -> Decimal:
        """Deposit plus realized PnL, less fees, plus funding received."""
        return self.deposit + self.realized - self.fees + self.funding

    def unrealized(self, mark: Decimal | None) -> Decimal:
        """Unrealized PnL of the position at ``mark`` (0 without a mark)."""
        if mark is None or self.position == 0:
            return ZERO
        return (mark - self.entry_price) * self.position

    def account_value(self, mark: Decimal | None) -> Decimal:
        """Balance plus unrealized PnL."""
        return self.balance + self.unrealized(mark)

    def apply_fill(self, side: Side, price: Decimal, size: Decimal, fee: Decimal) -> Decimal:
        """Book a fill; return the PnL it realized (before fees, rounded to the USDC quantum like closedPnl)."""
        signed = size if side is Side.BUY else -size
        pos = self.position
        closed = ZERO
        if pos != 0 and (pos > 0) != (signed > 0):
            closing = min(abs(signed), abs(pos))
            direction = 1 if pos > 0 else -1
            closed = usdc((price - self.entry_price) * closing * direction)
            self.realized += closed
        new_pos = pos + signed
        if new_pos == 0:
            self.entry_price = ZERO
        elif pos == 0 or (pos > 0) != (new_pos > 0):
            # Opened from flat, or flipped: the new position's entry is this fill's price.
            self.entry_price = price
        elif abs(new_pos) > abs(pos):
            self.entry_price = (self.entry_price * abs(pos) + price * size) / abs(new_pos)
        self.position = new_pos
        self.fees += fee
        return closed

    def apply_funding(self, payment: Decimal) -> None:
        """Book a funding payment (positive: received)."""
        self.funding += payment

    def state(self, mark: Decimal | None) -> AccountState:
        """A frozen snapshot at ``mark``."""
        unrealized = usdc(self.unrealized(mark))
        return AccountState(
            position=self.position,
            entry_price=self.entry_price,
            realized_pnl=self.realized,
            fees=self.fees,
            funding=self.funding,
            balance=self.balance,
            unrealized_pnl=unrealized,
            account_value=self.balance + unrealized,
            mark=mark,
        )
