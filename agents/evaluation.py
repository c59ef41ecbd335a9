"""Seeded comparison of policies (trained agents, oracles, baselines) on the same scenarios.

Protocol: episode ``i`` of every policy resets its env with ``seed + i`` (so every policy faces
the same channels and target). Solver policies (oracles and the papers' baselines) solve that
scenario once and are scored on their :class:`~isac_gym.oracles.Solution` (its configuration checked
by ``env.unwrapped.evaluate``, its status counted: an infeasible answer is shown as such);
acting policies (``random``, ``checkpoint``) act for ``steps`` steps in the env's own action mode
and are scored on the configuration of their last step.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper, VecMonitor

import isac_gym  # noqa: F401  (registers the ids)
from isac_gym import oracles
from isac_gym.bench.protocol import MAX_SUB_ENVS, ReferenceStore, training_seed
from isac_gym.physics.units import linear_to_db
from isac_gym.wrappers import SB3VecEnv


class CheckpointError(ValueError):
    """A checkpoint that is missing or does not fit the env."""


@dataclass
class EpisodeResult:
    """One policy on one scenario: its final configuration's figures. ``score`` and ``ratio`` are ISAC-Bench's
    (:func:`with_scores`): the normalised objective (0 random configurations, 1 the oracle) where the configuration
    is feasible and 0 where it is not, and the same with feasibility ignored; NaN until scored."""

    policy: str
    episode: int
    seed: int
    objective: float
    reward: float
    feasible: bool
    status: str  # a solver's Solution.status; "acted" for acting policies
    violation: dict[str, float]
    sinr_min_db: float  # -inf when a user's SINR is 0 (shown as "–")
    rate_sum: float
    power_w: float
    decision_ms: float
    solve_s: float
    steps: int  # the policy's decisions: 1 for a solver, the episode's steps for an acting policy
    cost: float = 0.0  # info["cost"] of the final configuration (0 exactly when it is feasible)
    episode_cost: float = 0.0  # sum of info["cost"] over the episode's steps (a solver: its one configuration's)
    score: float = float("nan")
    ratio: float = float("nan")

    def row(self) -> dict[str, Any]:
        """Flat CSV row (one column per violation)."""
        out = {k: v for k, v in self.__dict__.items() if k != "violation"}
        out.update({f"violation_{k}": v for k, v in self.violation.items()})
        return out


class CheckpointPolicy:
    """A saved SB3 model acting deterministically."""

    name = "checkpoint"

    def __init__(self, path: str | Path, env: gym.Env):
        from .algorithms import load_model

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"checkpoint is not an SB3 model archive: {path}")
        try:
            self.model = load_model(str(path))
        except Exception as exc:  # SB3 raises many types for a bad archive
            raise CheckpointError(f"checkpoint could not be loaded (not an SB3 DDPG/TD3/SAC/PPO model): {path}") from exc
        for what, got, want in (("observation", self.model.observation_space, env.observation_space),
                                ("action", self.model.action_space, env.action_space)):
            if got.shape != want.shape:
                raise CheckpointError(f"checkpoint {path} expects {what} shape {got.shape}, the env has {want.shape} "
                                      "(was it trained on another env or action_mode?)")

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=True)


def make_env(env_cfg: dict[str, Any]) -> gym.Env:
    """``gym.make`` of an env block (``id``, ``max_episode_steps``, ``kwargs``)."""
    return gym.make(env_cfg["id"], max_episode_steps=env_cfg.get("max_episode_steps"), **(env_cfg.get("kwargs") or {}))


class TrainingScenarios(VecEnvWrapper):
    """Seeds the training sub-envs from the training stream (:func:`isac_gym.bench.training_seed`): ``seed(s)``, as
    SB3 calls it with the run seed, resets sub-env ``i`` with ``training_seed(s) + i``, never with an ISAC-Bench
    evaluation seed (1000-1099), whatever the run seed."""

    def seed(self, seed: int | None = None):
        return self.venv.seed(None if seed is None else training_seed(seed))

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


def make_training_env(env_cfg: dict, n_envs: int, vectorization: str, seed: int):
    """``n_envs`` sub-envs as an SB3 VecEnv: one batched :class:`~isac_gym.wrappers.SB3VecEnv` (``native``)
    or SB3's ``DummyVecEnv`` of scalar envs (``dummy``), seeded from the training stream (:class:`TrainingScenarios`)."""
    if n_envs > MAX_SUB_ENVS:
        raise ValueError(f"n_envs must be at most {MAX_SUB_ENVS}, got {n_envs}")
    kwargs = dict(env_cfg.get("kwargs") or {})
    if vectorization == "native":
        inner = SB3VecEnv(gym.make_vec(env_cfg["id"], num_envs=n_envs, vectorization_mode="vector_entry_point",
                                       max_episode_steps=env_cfg["max_episode_steps"], **kwargs))
    elif vectorization == "dummy":
        inner = DummyVecEnv([lambda: Monitor(gym.make(env_cfg["id"], max_episode_steps=env_cfg["max_episode_steps"],
                                                      **kwargs)) for _ in range(n_envs)])
    else:
        raise ValueError(f"vectorization must be one of ('native', 'dummy'), got {vectorization!r}")
    venv = TrainingScenarios(inner)
    if vectorization == "native":
        venv = VecMonitor(venv)
    venv.seed(seed)
    return venv


def run_policy(name: str, env_cfg: dict[str, Any], episodes: int, seed: int, steps: int | None = None,
               checkpoint: str | None = None, progress=None, render_dir: Path | None = None) -> list[EpisodeResult]:
    """Run one policy on ``episodes`` seeded scenarios; see the module docstring for the protocol."""
    env = make_env(env_cfg)
    solver = name not in ("checkpoint", "random")
    if name == "checkpoint":
        policy = CheckpointPolicy(checkpoint or "", env)
    else:
        policy = oracles.make(env, name, seed=seed)
    n_steps = int(steps or env_cfg.get("max_episode_steps") or 1)
    system = env.unwrapped.system
    results = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        spent = 0.0
        reward = 0.0
        decisions = 0
        status = "acted"
        if solver:
            solution = policy.solve(env.unwrapped.current_scenario)
            spent, decisions, status = solution.seconds, 1, solution.status
            info = solution.info
            reward = info["reward"]
            episode_cost = float(info["cost"])
        else:
            episode_cost = 0.0
        for _ in range(0 if solver else n_steps):
            t0 = time.perf_counter()
            action, _ = policy.predict(obs, deterministic=True)
            spent += time.perf_counter() - t0
            decisions += 1
            obs, reward, terminated, truncated, info = env.step(action)
            episode_cost += float(info["cost"])
            if terminated or truncated:
                break
        sinr = np.atleast_1d(info["sinr"])
        min_sinr = float(np.min(sinr))
        results.append(EpisodeResult(
            policy=name, episode=ep, seed=seed + ep, objective=float(info["objective"]),
            reward=float(reward), feasible=bool(info["feasible"]), status=status,
            violation={k: float(v) for k, v in info["violation"].items()},
            sinr_min_db=float(linear_to_db(min_sinr)) if min_sinr > 0 else float("-inf"),
            rate_sum=float(np.sum(info["rate"])), power_w=float(info["power"]),
            decision_ms=1e3 * spent / max(decisions, 1), solve_s=spent, steps=decisions,
            cost=float(info["cost"]), episode_cost=episode_cost))
        if render_dir is not None:
            from isac_gym.render import render_frame, save_png

            render_dir.mkdir(parents=True, exist_ok=True)
            frame = render_frame(system, info, env.unwrapped.current_scenario, env.unwrapped.current_references)
            save_png(frame, render_dir / f"{name}_seed{seed + ep}.png")
        if progress is not None:
            progress(name, ep)
    env.close()
    return results


def summarise(results: list[EpisodeResult]) -> list[dict[str, Any]]:
    """One row per policy: objective mean / std / median, score, reward, feasibility rate, each violation's
    mean, status counts, worst-user SINR and runtimes."""
    rows = []
    for name in dict.fromkeys(r.policy for r in results):
        rs = [r for r in results if r.policy == name]
        obj = np.array([r.objective for r in rs])
        sinr = np.array([r.sinr_min_db for r in rs])
        statuses = {s: sum(r.status == s for r in rs) for s in dict.fromkeys(r.status for r in rs)}
        rows.append({
            "policy": name, "episodes": len(rs),
            "objective_mean": float(obj.mean()), "objective_std": float(obj.std()),
            "objective_median": float(np.median(obj)),
            "score_mean": float(np.mean([r.score for r in rs])),
            "ratio_mean": float(np.mean([r.ratio for r in rs])),
            "reward_mean": float(np.mean([r.reward for r in rs])),
            "feasible_rate": float(np.mean([r.feasible for r in rs])),
            "cost_mean": float(np.mean([r.cost for r in rs])),
            "episode_cost_mean": float(np.mean([r.episode_cost for r in rs])),
            "violation_mean": {k: float(np.mean([r.violation[k] for r in rs])) for k in rs[0].violation},
            "status_counts": statuses,
            # a user at SINR 0 ("-inf dB") makes the mean meaningless: reported as None ("–")
            "sinr_min_db_mean": float(sinr.mean()) if np.all(np.isfinite(sinr)) else None,
            "rate_sum_mean": float(np.mean([r.rate_sum for r in rs])),
            "decision_ms": float(np.mean([r.decision_ms for r in rs])),
            "solve_s_per_scenario": float(np.mean([r.solve_s for r in rs])),
        })
    return rows


def format_table(rows: list[dict[str, Any]], objective_name: str) -> str:
    """Plain-text comparison table (the final configuration's cost and the violations as means; the users' sum rate
    in bit/s/Hz; statuses as counts, e.g. ``5 optimal``)."""
    names = list(rows[0]["violation_mean"]) if rows else []
    width = max([12] + [len(r["policy"]) + 2 for r in rows])  # long names (random_coefficients) keep the columns
    head = (f"{'policy':<{width}}{objective_name + ' mean':>14}{'± std':>11}{'median':>11}{'score':>8}{'ratio':>8}"
            f"{'reward':>9}"
            f"{'feasible':>9}{'cost':>8}" + "".join(f"{'v_' + n:>12}" for n in names)
            + f"{'min SINR dB':>12}{'sum rate':>9}{'ms/dec':>9}{'s/scen':>8}  status")
    lines = [head, "-" * len(head)]
    for r in rows:
        sinr = "–" if r["sinr_min_db_mean"] is None else f"{r['sinr_min_db_mean']:.2f}"
        status = ", ".join(f"{n} {s}" for s, n in r["status_counts"].items())
        lines.append(f"{r['policy']:<{width}}{r['objective_mean']:>14.4g}{r['objective_std']:>11.3g}"
                     f"{r['objective_median']:>11.4g}{r['score_mean']:>8.3f}{r['ratio_mean']:>8.3f}"
                     f"{r['reward_mean']:>9.3f}"
                     f"{r['feasible_rate']:>9.0%}{r['cost_mean']:>8.3f}"
                     + "".join(f"{r['violation_mean'][n]:>12.3g}" for n in names)
                     + f"{sinr:>12}{r['rate_sum_mean']:>9.2f}{r['decision_ms']:>9.2f}"
                     f"{r['solve_s_per_scenario']:>8.2f}  {status}")
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]], objective_name: str, maximise: bool) -> str:
    """The comparison in plain words: where the trained agent (the ``checkpoint`` row) stands on the paper's objective
    (mean over the scenarios) against every other policy, its feasibility and its ISAC-Bench score; "" without a
    checkpoint row."""
    agent = next((r for r in rows if r["policy"] == "checkpoint"), None)
    if agent is None:
        return ""

    def better(a: float, b: float) -> bool:
        return a > b if maximise else a < b

    others = [r for r in rows if r is not agent]
    beats = [f"{r['policy']} ({r['objective_mean']:.3g})" for r in others if better(agent["objective_mean"],
                                                                                     r["objective_mean"])]
    behind = [f"{r['policy']} ({r['objective_mean']:.3g})" for r in others if not better(agent["objective_mean"],
                                                                                         r["objective_mean"])]
    feasible = f"feasible on {agent['feasible_rate']:.0%} of the scenarios"
    lines = [f"The trained agent's {objective_name} ({'higher' if maximise else 'lower'} is better): "
             f"{agent['objective_mean']:.3g} on the mean, {feasible}; ISAC-Bench score {agent['score_mean']:.2f} "
             "(0: random configurations, 1: the oracle; 0 where infeasible)."]
    if beats:
        lines.append("It beats " + ", ".join(beats) + ".")
    if behind:
        lines.append("It is behind " + ", ".join(behind) + ".")
    return "\n".join(lines)


def scenarios_phrase(episodes: int, seed: int) -> str:
    """``"5 seeded scenarios (seeds 1000-1004)"``, ``"1 seeded scenario (seed 1000)"``."""
    if episodes == 1:
        return f"1 seeded scenario (seed {seed})"
    return f"{episodes} seeded scenarios (seeds {seed}-{seed + episodes - 1})"


def with_scores(results: list[EpisodeResult], env_cfg: dict[str, Any], references: Path | None,
                progress: Any = None) -> list[EpisodeResult]:
    """``results`` with ISAC-Bench's ``score`` and ``ratio`` against the anchors of their scenarios (random
    configurations and the oracle; :class:`~isac_gym.bench.protocol.ReferenceStore`, cached in the file
    ``references``, computed where missing)."""
    store = ReferenceStore(env_cfg["id"], env_cfg.get("kwargs") or {}, references)
    refs = store.get(sorted({r.seed for r in results}), progress)
    return [dataclasses.replace(r, score=refs[r.seed].score(r.objective, r.feasible),
                                ratio=refs[r.seed].ratio(r.objective)) for r in results]


def evaluate_policies(policies: list[str], env_cfg: dict[str, Any], episodes: int, seed: int, out_dir: Path,
                      steps: int | None = None, checkpoint: str | None = None, show_progress: bool = True,
                      render: bool = False, references: Path | None = None):
    """Run every policy, score their answers as ISAC-Bench does (anchors cached in ``references``, by default
    ``out_dir/bench_references.json``), write ``evaluation.csv`` / ``evaluation.json`` to ``out_dir`` (and, with
    ``render``, one PNG per policy and scenario under ``out_dir/frames``), return (rows, table)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(policies) * episodes, desc="evaluating", disable=not show_progress)

    def progress(name, ep):
        bar.set_postfix_str(f"{name} #{ep}")
        bar.update(1)

    results: list[EpisodeResult] = []
    for name in policies:
        bar.set_postfix_str(f"{name} (solving)" if name not in ("random", "checkpoint") else name)
        results += run_policy(name, env_cfg, episodes, seed, steps, checkpoint, progress,
                              out_dir / "frames" if render else None)
    bar.close()
    anchors = tqdm(total=episodes, desc="ISAC-Bench anchors (oracle per scenario)", disable=not show_progress)
    results = with_scores(results, env_cfg, references or out_dir / "bench_references.json",
                          lambda s: anchors.update(1))
    anchors.close()
    objective_name = make_env(env_cfg).unwrapped.system.objective_name
    rows = summarise(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    flat = [r.row() for r in results]
    with open(out_dir / "evaluation.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    with open(out_dir / "evaluation.json", "w") as fh:
        json.dump({"env": env_cfg["id"], "objective": objective_name, "episodes": episodes, "seed": seed,
                   "summary": rows}, fh, indent=2)
    return rows, format_table(rows, objective_name)
