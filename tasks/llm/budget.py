"""Tasks layer (llm): a spending cap checked before each request is sent.

A request goes out while what is spent plus what is in flight (each in-flight request counted
at the mean cost of those answered so far) stays below the cap; the first that does not stops
all later ones (the stage keeps what was answered; a rerun with a higher cap continues, cached
answers cost nothing). So spent <= cap + the requests in flight at the moment the cap was
reached: one request's cost with max_concurrency 1, at most max_concurrency requests' cost.
Reserving the worst case (every sample at max_tokens) instead would stop long before the cap,
as real answers are mostly far shorter. A model with no known price cannot be capped: the
budget refuses rather than guess it is free.
"""

from __future__ import annotations

import threading

from schemas.errors import UserError


class BudgetExhausted(UserError):
    """The next request would pass the cap; everything answered so far is kept."""


class Budget:
    def __init__(self, cap_usd: float | None, spent_usd: float = 0.0):
        self.cap, self.spent, self.reserved = cap_usd, spent_usd, 0.0
        self.answered = 0
        self.stopped = False
        self.unpriced = False
        self._lock = threading.Lock()

    def _typical(self) -> float:
        return self.spent / self.answered if self.answered else 0.0

    def reserve(self, priced: bool) -> float | None:
        """The amount held for one request about to be sent, or None: do not send it."""
        if self.cap is None:
            return 0.0
        with self._lock:
            self.unpriced = self.unpriced or not priced
            if self.stopped or not priced or self.spent + self.reserved >= self.cap:
                self.stopped = True
                return None
            held = self._typical()
            self.reserved += held
            return held

    def settle(self, held: float, actual_usd: float | None) -> None:
        with self._lock:
            self.reserved -= held
            if actual_usd is not None:
                self.spent += actual_usd
                self.answered += 1

    def message(self, who: str) -> str:
        if self.unpriced:
            return f"{who}: budget_usd is set but no price is known for this model: add it under prices:"
        return (f"{who}: budget of ${self.cap:.6g} reached (spent ${self.spent:.6g}); answers so far are kept, "
                f"rerun with a higher budget_usd to continue")


def within_run(engine, run_cap: float | None, spent: float):
    """An engine's settings capped by what is left of the run's budget (tasks.llm for flows/curate)."""
    if run_cap is None:
        return engine
    left = max(run_cap - spent, 0.0)  # 0 stops before the first request (not validated: copy)
    own = engine.budget_usd if engine.budget_usd is not None else left
    return engine.model_copy(update={"budget_usd": min(own, left)})
