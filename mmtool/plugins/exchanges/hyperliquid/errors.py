"""Typed Hyperliquid errors, and the table that maps the exchange's error texts to them.

The exchange answers a refused order, cancel or request with English text, either for the whole request
(``{"status": "err", "response": "<text>"}``) or per order (``{"error": "<text>"}`` in ``statuses``).
:func:`error_from_message` turns that text into one of the classes below, so callers branch on types, not on
strings. Matching is by case-insensitive substring of the documented texts (the exchange appends details such as
``bbo was 1.0@2.0`` or ``asset=3``):

=====================================================================  ========================
Exchange text (substring)                                              Error class
=====================================================================  ========================
Post only order would have immediately matched                         PostOnlyWouldCross
Only post-only orders allowed immediately after a network upgrade      PostOnlyModeOnly
Reduce only order would increase position                              ReduceOnlyRejected
Order must have minimum value of                                       MinNotionalRejected
Insufficient margin to place order                                     InsufficientMargin
Price must be divisible by tick size / Order has invalid price /
Order has invalid size / Order has zero size                           InvalidPriceOrSize
Too many cumulative requests sent / rate limit                         RateLimited
Order was never placed, already canceled, or filled                    OrderNotFound
Order could not immediately match against any resting orders           IocCancelled
Invalid nonce                                                          InvalidNonce
User or API Wallet ... does not exist                                  UnknownSigner
anything else                                                          ExchangeRejected
=====================================================================  ========================

Sources: the exchange's "Error responses" documentation page (the batched order and cancel texts) and the texts
seen in answers for the rest (rate limit, nonce, signer, post-only mode).
"""

from __future__ import annotations

from mmtool.core.errors import ExchangeError, MmtoolError


class HyperliquidError(ExchangeError):
    """Base of every error raised by the Hyperliquid wire layer; ``message`` is the exchange's text, if any."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class MalformedResponse(HyperliquidError):
    """The exchange answered with something that is not the documented shape; the adapter logs and skips it."""


class ExchangeRejected(HyperliquidError):
    """The exchange refused an order, a cancel or a whole request; the subclass says why when it is known."""


class PostOnlyWouldCross(ExchangeRejected):
    """A post-only (Alo) order would have crossed the book (``badAloPxRejected``)."""


class PostOnlyModeOnly(ExchangeRejected):
    """Only post-only orders are accepted for now (right after a network upgrade); retry later."""


class ReduceOnlyRejected(ExchangeRejected):
    """A reduce-only order would have increased the position."""


class MinNotionalRejected(ExchangeRejected):
    """The order's value is below the exchange's minimum (10 USDC on perps)."""


class InsufficientMargin(ExchangeRejected):
    """The account has too little margin for the order."""


class InvalidPriceOrSize(ExchangeRejected):
    """The price is off the tick (or has too many figures) or the size is off the lot."""


class RateLimited(ExchangeRejected):
    """The address or IP rate limit is exhausted; back off before sending more."""


class OrderNotFound(ExchangeRejected):
    """A cancel named an order that was never placed, is already cancelled, or has filled."""


class DuplicateCloid(ExchangeRejected):
    """A place named a client order id of an order still open: ours exists (the original of a resend)."""


class IocCancelled(ExchangeRejected):
    """An immediate-or-cancel order found nothing to match and was cancelled."""


class InvalidNonce(ExchangeRejected):
    """The nonce was already used, is too low, or is outside the exchange's time window."""


class UnknownSigner(ExchangeRejected):
    """The recovered signer is neither the account nor one of its approved agents (often a wrong network)."""


class InvalidSignature(MmtoolError, ValueError):
    """A signature is malformed or does not recover to a public key."""


class NonceStateError(MmtoolError):
    """The nonce state file cannot be read or written; refusing to go on rather than risk reusing a nonce."""


#: Lower-cased substrings of the exchange's texts, checked in order; the first match wins.
ERROR_TABLE: tuple[tuple[str, type[ExchangeRejected]], ...] = (
    ("post only order would have immediately matched", PostOnlyWouldCross),
    ("only post-only orders allowed", PostOnlyModeOnly),
    ("reduce only order would increase position", ReduceOnlyRejected),
    ("order must have minimum value of", MinNotionalRejected),
    ("insufficient margin", InsufficientMargin),
    ("price must be divisible by tick size", InvalidPriceOrSize),
    ("order has invalid price", InvalidPriceOrSize),
    ("order has invalid trigger price", InvalidPriceOrSize),
    ("order has invalid size", InvalidPriceOrSize),
    ("order has zero size", InvalidPriceOrSize),
    ("too many cumulative requests sent", RateLimited),
    ("rate limit", RateLimited),
    ("order was never placed, already canceled, or filled", OrderNotFound),
    ("duplicate client order id", DuplicateCloid),
    ("order could not immediately match", IocCancelled),
    ("invalid nonce", InvalidNonce),
    ("user or api wallet", UnknownSigner),
)


def classify_error(message: str) -> type[ExchangeRejected]:
    """The error class for an exchange error text (:class:`ExchangeRejected` when no entry matches)."""
    lowered = message.lower()
    for needle, cls in ERROR_TABLE:
        if needle in lowered:
            return cls
    return ExchangeRejected


def error_from_message(message: str) -> ExchangeRejected:
    """An error instance of the right class for an exchange error text, carrying the text unchanged."""
    return classify_error(message)(message)
