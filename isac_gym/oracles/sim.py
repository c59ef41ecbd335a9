"""The D3 oracle of [SIM] and its baselines (docs/sim.md); D3 itself is :func:`isac_gym.physics.sim.d3` (the env's
structured mode starts from its communication-only end).

Each iteration computes the analytic gradients of the beam-matching error (eqs. (12)-(14)) and of
the sum rate (eqs. (17)-(18)) over every phase, normalises each by its largest entry (eqs.
(20)-(21)), takes the weighted difference ``omega_s grad_s - omega_c grad_c`` (eq. (22)), scales it
so its largest entry is pi (eq. (23)) and steps ``theta <- theta - mu_t grad`` with
``mu_t = mu_0 rho^t`` (eqs. (24)-(25)), from 5 random initialisations, for at most 60 iterations or
until both objectives change by less than ``tol`` (relative). Runs and weights are batched (one
array program, no loop over runs).

Selection (the paper's rule): with ``omega_s > omega_c`` the lowest error wins, with
``omega_s < omega_c`` the highest sum rate; with equal weights, and for the constrained oracle, the
lowest error among the candidates meeting ``R >= R_min``, else the highest sum rate. Each run keeps
its best iterate under the same rule: the pi-normalised steps are large early on, so the last
iterate is not always the best, and the kept objective never gets worse from one iteration to the next.

The ``oracle`` solves the env's own problem. For ``problem="constrained"`` it picks the weights as the paper's
constrained search does: ``omega_s = 1 - omega_c`` over a grid of ``omega_c``, the smallest ``omega_c`` whose
solution meets ``R_min``. For ``problem="weighted"`` it runs D3 with the env's weights
``(omega_s, omega_c) = (w_sense, w_comm)``, the trade-off of Fig. 5 of [SIM].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..physics import sim
from ..physics.sim import RATE_MARGIN, d3
from .base import Design, Policy, RandomPolicy

#: Grid of omega_c searched by the constrained oracle (omega_s = 1 - omega_c).
COMM_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 10))
class D3Policy(Policy):
    """D3 with fixed weights ``(omega_s, omega_c)`` (``weights=``); by default the env's problem: its weights
    (``problem="weighted"``) or the constrained weight search."""

    name = "oracle"
    success_status = "converged"
    default_weights: tuple[float, float] | None = None

    def __init__(self, env: Any, seed: int | None = None, weights: tuple[float, float] | None = None,
                 runs: int = 5, max_iterations: int = 60):
        super().__init__(env, seed)
        self.weights = self.default_weights if weights is None else tuple(float(w) for w in weights)
        if self.weights is not None and (len(self.weights) != 2 or min(self.weights) < 0.0):
            raise ValueError(f"weights must be a pair (omega_s, omega_c) of numbers >= 0, got {weights!r}")
        self.runs = runs
        self.max_iterations = max_iterations

    def design(self, scenario: sim.SIMScenario) -> Design:
        p = self.system.params
        weights = self.weights
        if weights is None and self.system.problem == "weighted":
            weights = (self.system.options.w_sense, self.system.options.w_comm)
        if weights is not None:
            res = d3(p, scenario.channels, weights[0], weights[1], self.rng, self.runs, self.max_iterations)
            return Design(sim.SIMConfiguration(res.phases[0]), iterations=res.iterations)
        wc = np.asarray(COMM_WEIGHTS)
        res = d3(p, scenario.channels, 1.0 - wc, wc, self.rng, self.runs, self.max_iterations, constrained=True)
        meets = res.sum_rate >= p.rate_min * (1.0 + RATE_MARGIN)
        if meets.any():
            choice = int(np.flatnonzero(meets)[0])  # the smallest omega_c that meets R_min
            return Design(sim.SIMConfiguration(res.phases[choice]), iterations=res.iterations)
        choice = int(np.argmax(res.sum_rate))
        return Design(sim.SIMConfiguration(res.phases[choice]), "infeasible", res.iterations)


class CommOnlyPolicy(D3Policy):
    """D3 with ``omega_s = 0``: sum rate only."""

    name = "comm_only"
    success_status = "baseline"
    default_weights = (0.0, 1.0)


class SensingOnlyPolicy(D3Policy):
    """D3 with ``omega_c = 0``: beam matching only."""

    name = "sensing_only"
    success_status = "baseline"
    default_weights = (1.0, 0.0)


def policies(system: Any) -> dict[str, type[Policy]]:
    """The D3 oracle (constrained weights), its two single-objective ends and ``random``."""
    return {"oracle": D3Policy, "comm_only": CommOnlyPolicy, "sensing_only": SensingOnlyPolicy,
            "random": RandomPolicy}
