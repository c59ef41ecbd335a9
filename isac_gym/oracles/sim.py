"""D3, the dual-normalised differential gradient descent of [SIM], and its baselines (docs/sim.md).

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

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import sim
from .base import Design, Policy, RandomPolicy

#: Grid of omega_c searched by the constrained oracle (omega_s = 1 - omega_c).
COMM_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 10))
#: Relative margin on R_min so that a selected solution is feasible with room for round-off.
RATE_MARGIN = 1e-6


@dataclass(frozen=True)
class D3Result:
    """Outcome of :func:`d3` for a batch of weight pairs (leading axis W).

    Attributes:
        phases: ``[W, L, M]`` selected phases (rad).
        mse, sum_rate: ``[W]`` their beam-matching error (linear) and sum rate (bit/s/Hz).
        history: ``[W, iterations + 1]`` the kept objective of the selected run at every iteration
            (the error for error-led weights, minus the sum rate for rate-led ones, the constrained
            key otherwise), non-increasing.
        iterations: iterations run (at most ``max_iterations``).
    """

    phases: np.ndarray
    mse: np.ndarray
    sum_rate: np.ndarray
    history: np.ndarray
    iterations: int


def _key(mse: np.ndarray, rate: np.ndarray, rule: np.ndarray, rate_min: float) -> np.ndarray:
    """Selection key (smaller is better) under each weight pair's rule: 0 error, 1 rate, 2 constrained.

    The constrained key ranks every candidate meeting R_min (key = error, in [0, 1]) before every other
    (key = 2 + (1 - R / R_min), at least 2).
    """
    meets = rate >= rate_min * (1.0 + RATE_MARGIN)
    constrained = np.where(meets, mse, 2.0 + np.maximum(0.0, 1.0 - rate / rate_min))
    return np.where(rule == 0, mse, np.where(rule == 1, -rate, constrained))


def d3(params: sim.SIMParams, channels: np.ndarray, omega_s: np.ndarray, omega_c: np.ndarray,
       rng: np.random.Generator, runs: int = 5, max_iterations: int = 60, mu0: float = 1.0, rho: float = 0.9,
       tol: float = 1e-4, eps: float = 1e-8, constrained: bool = False) -> D3Result:
    """Run D3 for each weight pair ``(omega_s[w], omega_c[w])`` on one scenario's ``channels [K, M]``.

    ``constrained=True`` selects every pair by the constrained rule (used by the weight search).
    """
    omega_s = np.atleast_1d(np.asarray(omega_s, float))
    omega_c = np.atleast_1d(np.asarray(omega_c, float))
    n_w = omega_s.size
    rule = np.where(omega_s > omega_c, 0, np.where(omega_s < omega_c, 1, 2))
    if constrained:
        rule = np.full(n_w, 2)
    rule_runs = np.repeat(rule, runs)
    ws = np.repeat(omega_s, runs)[:, None, None]
    wc = np.repeat(omega_c, runs)[:, None, None]
    theta = rng.uniform(0.0, 2.0 * np.pi, size=(n_w * runs, params.n_layers, params.n_elements))
    best_theta = theta.copy()
    best_key = np.full(n_w * runs, np.inf)
    best_mse = np.zeros(n_w * runs)
    best_rate = np.zeros(n_w * runs)
    keys = []
    prev_mse = prev_rate = None
    active = np.ones(n_w * runs, dtype=bool)
    mu = mu0
    iterations = 0
    for t in range(max_iterations + 1):
        casc = sim.cascade(params, theta)
        rate, grad_c = sim.sum_rate_gradient(params, channels, casc)
        mse, grad_s = sim.beam_matching_gradient(params, casc)
        key = _key(mse, rate, rule_runs, params.rate_min)
        better = key < best_key
        best_key = np.where(better, key, best_key)
        best_theta[better] = theta[better]
        best_mse = np.where(better, mse, best_mse)
        best_rate = np.where(better, rate, best_rate)
        keys.append(best_key.copy())
        if prev_mse is not None:
            change = np.maximum(np.abs(mse - prev_mse) / np.maximum(prev_mse, 1e-300),
                                np.abs(rate - prev_rate) / np.maximum(np.abs(prev_rate), 1e-300))
            active &= change >= tol
        if t == max_iterations or not active.any():
            break
        prev_mse, prev_rate = mse, rate
        # eqs. (20)-(23): scale normalisation, weighted difference, global pi/max normalisation
        n_s = grad_s / (np.abs(grad_s).max(axis=(-2, -1), keepdims=True) + eps)
        n_c = grad_c / (np.abs(grad_c).max(axis=(-2, -1), keepdims=True) + eps)
        diff = ws * n_s - wc * n_c
        peak = np.abs(diff).max(axis=(-2, -1), keepdims=True)
        step = np.pi * diff / np.where(peak > 0.0, peak, 1.0)
        theta = np.where(active[:, None, None], np.mod(theta - mu * step, 2.0 * np.pi), theta)  # eq. (24)
        mu *= rho  # eq. (25)
        iterations = t + 1
    # selection across the runs of each weight pair
    best_key = best_key.reshape(n_w, runs)
    pick = best_key.argmin(axis=1)
    flat = np.arange(n_w) * runs + pick
    history = np.stack(keys, axis=-1)[flat]
    return D3Result(best_theta[flat], best_mse[flat], best_rate[flat], history, iterations)


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
