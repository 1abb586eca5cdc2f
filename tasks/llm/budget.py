"""Tasks layer (llm): a spending cap that requests reserve against before they are sent.

Each request reserves its worst case (prompt plus every sample at max_tokens) and settles to
its real cost when it returns, so concurrent requests can never together pass the cap: spent
stays <= cap. The first request that does not fit stops all later ones (the stage keeps what
was answered; a rerun with a higher cap continues, cached answers cost nothing). A model with
no known price cannot be capped: the budget refuses rather than guess it is free.
"""

from __future__ import annotations

import threading

from schemas.errors import UserError


class BudgetExhausted(UserError):
    """The next request would pass the cap; everything answered so far is kept."""


class Budget:
    def __init__(self, cap_usd: float | None, spent_usd: float = 0.0):
        self.cap, self.spent, self.reserved = cap_usd, spent_usd, 0.0
        self.stopped = False
        self.unpriced = False
        self._lock = threading.Lock()

    def reserve(self, worst_usd: float | None) -> bool:
        if self.cap is None:
            return True
        with self._lock:
            self.unpriced = self.unpriced or worst_usd is None
            if self.stopped or worst_usd is None or self.spent + self.reserved + worst_usd > self.cap:
                self.stopped = True
                return False
            self.reserved += worst_usd
            return True

    def settle(self, worst_usd: float | None, actual_usd: float | None) -> None:
        with self._lock:
            if self.cap is not None and worst_usd is not None:
                self.reserved -= worst_usd
            self.spent += actual_usd or 0.0

    def message(self, who: str) -> str:
        if self.unpriced:
            return f"{who}: budget_usd is set but no price is known for this model: add it under prices:"
        return (f"{who}: budget of ${self.cap:.4f} reached (spent ${self.spent:.4f}); answers so far are kept, "
                f"rerun with a higher budget_usd to continue")
