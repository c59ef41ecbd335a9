"""Oracle and baselines of ISAC-RIS-SLP-v0 / ISAC-RIS-SLP-DoA-v0 (docs/ris_slp.md).

``oracle``: a quasi-Newton method on the unit-modulus manifold with a PHR augmented Lagrangian
for the constructive-interference constraints, written as the two half-planes whose intersection
is each constructive region (the spec's alternative to the paper's ADMM-ALM-DFP;
eqs. (45)-(47) of [RIS-SLP] give the PHR form). The waveform and RIS coefficients are
parametrised by their phases, ``x = sqrt(P/M) e^{j theta_x}``, ``phi = e^{j theta_phi}``, so
the modulus constraints (18c)-(18d) hold exactly and the manifold gradient is the phase
gradient ``-2 Im(conj(g) v)`` of the Wirtinger gradient ``g``. Each augmented-Lagrangian
subproblem

    minimise  F(theta) + sum_{k,l} (rho/2) max(g~_kl + lambda_kl/rho, 0)^2

is solved jointly in (theta_x, theta_phi) by L-BFGS, then ``lambda <- max(lambda + rho g~, 0)``
(eq. (47a)) and rho grows while the violation does not halve. ``F`` is ``-log SINR`` (detection,
analytic gradient) or ``log CRB`` (DoA, gradient by batched forward differences of the same
batch-first physics). ``g~ = g / s + margin`` with s the median received amplitude, so the
solution lands strictly inside every constructive region. A final check enforces every CI
constraint; a penalty-only repair runs if one is still violated.

Baselines: ``no_ris`` (RIS absent: phi = 0, only x optimised), ``random_ris`` (random phi, only x
optimised), ``radar_only`` (QoS ignored: the upper reference), ``random``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ..physics import ris_slp
from ..physics.ris_slp import RISSLPConfiguration
from .base import DONE, Design, Policy, RandomPolicy

MARGIN = 0.02


class _Problem:
    """Objective, constraints and gradients in phase coordinates for one scenario."""

    def __init__(self, params: ris_slp.RISSLPParams, scenario, task: str, phi_fixed: np.ndarray | None,
                 qos: bool):
        self.params, self.scenario, self.task, self.qos = params, scenario, task, qos
        self.phi_fixed = phi_fixed
        self.n_x = params.n_slots * params.n_tx
        self.scale = 1.0
        self.fd_step = 1e-7

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        x = p.amplitude * np.exp(1j * theta[..., : self.n_x]).reshape(*theta.shape[:-1], p.n_slots, p.n_tx)
        if self.phi_fixed is not None:
            return x, np.broadcast_to(self.phi_fixed, theta.shape[:-1] + self.phi_fixed.shape)
        return x, np.exp(1j * theta[..., self.n_x:])

    def objective(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        x, phi = self.unpack(theta)
        if self.task == "detection":
            sinr, gx, gphi = ris_slp.radar_sinr_gradient(self.params, self.scenario, x, phi)
            sinr = max(float(sinr), 1e-300)
            grad = np.r_[_phase_grad(-gx / sinr, x).ravel(),
                         _phase_grad(-gphi / sinr, phi) if self.phi_fixed is None else np.zeros(0)]
            return -np.log(sinr), grad
        return self._log_crb(theta)

    def _log_crb(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``log CRB`` and its forward-difference phase gradient, all points in one batched call."""
        n = theta.size
        h = self.fd_step
        x, phi = self.unpack(np.concatenate([theta[None, :], theta + h * np.eye(n)]))
        values = np.log(ris_slp.doa_crb(self.params, self.scenario, x, phi))
        return float(values[0]), (values[1:] - values[0]) / h

    def constraints(self, theta: np.ndarray) -> np.ndarray:
        """Scaled half-plane constraints ``g~ = g_i / s + margin``, ``[2, K, L]`` (feasible when ``<= 0``)."""
        x, phi = self.unpack(theta)
        return ris_slp.ci_halfplanes(self.params, self.scenario, x, phi) / self.scale + MARGIN

    def penalty(self, theta: np.ndarray, lam: np.ndarray, rho: float) -> tuple[float, np.ndarray]:
        """PHR term ``sum (rho/2) max(g~ + lam/rho, 0)^2`` (eq. (46)) and its phase gradient."""
        act = np.maximum(self.constraints(theta) + lam / rho, 0.0)
        x, phi = self.unpack(theta)
        value = 0.5 * rho * float(np.sum(act**2))
        gx, gphi = ris_slp.ci_halfplanes_gradient(self.params, self.scenario, x, phi, rho * act / self.scale)
        grad = np.r_[_phase_grad(gx, x).ravel(), _phase_grad(gphi, phi) if self.phi_fixed is None else np.zeros(0)]
        return value, grad


def _phase_grad(wirtinger: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``dF/dtheta`` for ``v = |v| e^{j theta}`` from ``g = dF/dv*``: ``2 Re(conj(g) j v) = -2 Im(conj(g) v)``."""
    return -2.0 * np.imag(np.conj(wirtinger) * v)


@dataclass(frozen=True)
class ALResult:
    """Phases found by :func:`augmented_lagrangian`, its outer rounds and whether the repair step ran."""

    theta: np.ndarray
    rounds: int
    repaired: bool


def augmented_lagrangian(problem: _Problem, theta0: np.ndarray, rho: float = 10.0, outer: int = 12,
                         inner: int = 150) -> ALResult:
    """PHR augmented Lagrangian over L-BFGS inner solves (see the module docstring)."""
    theta = theta0.copy()
    if not problem.qos:
        res = minimize(problem.objective, theta, jac=True, method="L-BFGS-B", options={"maxiter": 4 * inner})
        return ALResult(res.x, 1, False)
    x, phi = problem.unpack(theta)
    problem.scale = float(np.median(np.abs(ris_slp.user_responses(problem.scenario, x, phi)))) or 1.0
    lam = np.zeros((2, problem.params.n_users, problem.params.n_slots))
    last_violation = np.inf
    rounds = 0
    for _ in range(outer):
        rounds += 1

        def fun(th, lam=lam, rho=rho):
            f, g = problem.objective(th)
            pv, pg = problem.penalty(th, lam, rho)
            return f + pv, g + pg

        theta = minimize(fun, theta, jac=True, method="L-BFGS-B", options={"maxiter": inner}).x
        g = problem.constraints(theta)
        violation = float(np.max(np.maximum(g, 0.0)))
        lam = np.maximum(lam + rho * g, 0.0)
        if violation <= 0.0:
            break
        if violation > 0.5 * last_violation:
            rho *= 2.0
        last_violation = violation
    repaired = bool(np.any(problem.constraints(theta) - MARGIN > 0.0))
    if repaired:  # repair: constraints only (the caller's check decides whether it worked)
        def repair(th):
            return problem.penalty(th, np.zeros_like(lam), 1.0)

        theta = minimize(repair, theta, jac=True, method="L-BFGS-B", options={"maxiter": 4 * inner}).x
    return ALResult(theta, rounds, repaired)


def solve(params: ris_slp.RISSLPParams, scenario, task: str, mode: str = "joint", qos: bool = True,
          rng: np.random.Generator | None = None) -> Design:
    """Design ``(x, phi)`` for one scenario. ``mode``: ``joint`` (x and phi), ``no_ris`` (phi = 0),
    ``random_ris`` (phi random, fixed). Starts from the matched radar design."""
    rng = np.random.default_rng(0) if rng is None else rng
    x0, phi0 = ris_slp.matched_design(params, scenario)
    phi_fixed = None
    if mode == "no_ris":
        phi_fixed = np.zeros(params.n_elements, complex)
    elif mode == "random_ris":
        phi_fixed = np.exp(1j * rng.uniform(0, 2 * np.pi, params.n_elements))
    if phi_fixed is not None:  # re-match the waveform to the fixed RIS
        _, r = ris_slp.cascaded(scenario, phi_fixed)
        x0 = np.broadcast_to(params.amplitude * np.exp(-1j * np.angle(r[0])), x0.shape)
    problem = _Problem(params, scenario, task, phi_fixed, qos)
    theta0 = np.angle(x0).ravel()
    if phi_fixed is None:
        theta0 = np.r_[theta0, np.angle(phi0)]
    if qos and task == "doa":  # the CRB's finite-difference gradient is costly: start from the sensing optimum
        theta0 = augmented_lagrangian(_Problem(params, scenario, task, phi_fixed, False), theta0).theta
    res = augmented_lagrangian(problem, theta0)
    x, phi = problem.unpack(res.theta)
    return Design(RISSLPConfiguration(np.array(x), np.array(phi)), "repaired" if res.repaired else DONE,
                  res.rounds)


class _RISSLPSolver(Policy):
    mode = "joint"
    qos = True

    def design(self, scenario) -> Design:
        system = self.system
        return solve(system.params, scenario, system.task, self.mode, self.qos, self.rng)


class OraclePolicy(_RISSLPSolver):
    """Joint waveform + RIS design under every CI constraint (the classical reference)."""

    name = "oracle"
    success_status = "converged"


class NoRISPolicy(_RISSLPSolver):
    """RIS absent (phi = 0): only the waveform is designed. Its configurations are not reachable by
    actions (every action has |phi| = 1): use ``solve`` + ``env.unwrapped.evaluate``."""

    name = "no_ris"
    mode = "no_ris"

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        raise ValueError("no_ris configurations (phi = 0) are not reachable by actions; "
                         "use solve() with env.unwrapped.evaluate()")


class RandomRISPolicy(_RISSLPSolver):
    """Random RIS phases, waveform designed under the CI constraints."""

    name = "random_ris"
    mode = "random_ris"


class RadarOnlyPolicy(_RISSLPSolver):
    """Joint design ignoring the QoS constraints: the sensing upper reference."""

    name = "radar_only"
    qos = False


def policies(system: Any) -> dict[str, type[Policy]]:
    """The oracle and baselines of the RIS-SLP ids (without a RIS, theta_RIS is unidentifiable: the DoA task
    has no ``no_ris`` baseline)."""
    table = {"oracle": OraclePolicy, "no_ris": NoRISPolicy, "random_ris": RandomRISPolicy,
             "radar_only": RadarOnlyPolicy, "random": RandomPolicy}
    if system.task == "doa":
        del table["no_ris"]
    return table
