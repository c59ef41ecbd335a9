"""Learnability: does TD3 at each id's training config make progress towards the oracle?

Usage: ``python -m benchmarks learn [--ids ISAC-SIM-v0 ...] [--modes structured direct ...] [--seeds 0 1 2]
[--scenario fixed random] [--steps N] [--json out.json] [--override agent.gamma=0.9 ...]``.

For every id, scenario setting and seed, TD3 is built from the same Hydra composition as
``python train.py env=<name> agent=td3`` (so the action mode's discount applies: gamma 0 in a memoryless mode,
:func:`agents.config.resolve_gamma`) and trained for the id's budget (its registration's ``learning_steps``, or
``--steps``), in each action mode of ``--modes`` (default: the id's default). Then the deterministic policy acts for
one episode on each evaluation scenario, and its last configuration is scored as ISAC-Bench scores it
(:mod:`isac_gym.bench.protocol`):

* ``score``: ISAC-Bench's normalised score, ``(log x_agent - log x_random) / (log x_oracle - log x_random)`` on the
  paper's objective ``x`` (the ratio of dB gaps: 0 for random configurations, 1 for the oracle) where the
  configuration is feasible, and 0 where it is not;
* ``ratio``: the same normalisation with feasibility ignored (progress on the objective alone);
* ``feasible``: whether that configuration meets every constraint (the env's own ``evaluate``).

``--override agent.lagrangian.enabled=true`` trains TD3 with a PID Lagrangian per constraint instead of the fixed
penalty weights (the env's objective reward, the constraints through their costs; agents/lagrangian.py), as
``python train.py agent.lagrangian.enabled=true`` does; the table's agent column tells the two apart.

``fixed``: one scenario (``scenario_seed=0``) for training and evaluation, the papers' single-realisation
setting. ``random``: a new scenario at every reset, evaluated on seeds 1000-1004. The table gives the mean and
range over seeds, and the learning curve (score every ``budget / 5`` steps) is printed per run.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np

import isac_gym
from agents import lagrangian
from agents.algorithms import build_model
from agents.evaluation import make_training_env
from benchmarks import save_report
from isac_gym.bench import protocol
from isac_gym.bench.protocol import Reference, compute_reference

#: Evaluation seeds of the random-scenario setting: the first five of ISAC-Bench's.
EVAL_SEEDS = protocol.EVAL_SEEDS[:5]
CURVE_POINTS = 5


def compose(env_name: str, overrides: list[str]) -> tuple[dict, dict]:
    """The env and agent config of ``python train.py env=<env_name> agent=td3 <overrides>``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from agents.cli import CONF
    from agents.config import register, resolve_gamma

    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="learn"):
        cfg = hydra_compose(config_name="config", overrides=[f"env={env_name}", "agent=td3"] + overrides)
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    return env_cfg, resolve_gamma(OmegaConf.to_container(cfg.agent, resolve=True), env_cfg)


def evaluate_model(model, env: gym.Env, seeds: tuple[int, ...], refs: dict[int, Reference]) -> dict:
    """ISAC-Bench's mean score (infeasible = 0), the objective ratio, the feasibility rate and the largest raw
    violation of the deterministic policy's last configuration on each evaluation scenario (:func:`protocol.answer`,
    as the bench acts)."""
    episodes, worst = [], []
    for s in seeds:
        answer = protocol.answer(env, model, s, solve=False)
        episodes.append(answer.episode(s))
        worst.append(max(answer.info["violation"].values(), default=0.0))
    summary = protocol.summarise(episodes, refs)
    return {"score": summary.score, "ratio": summary.ratio, "feasible": summary.feasible,
            "violation": float(np.mean(worst))}


def run(env_id: str, setting: str, seed: int, steps: int, overrides: list[str], mode: str | None = None) -> dict[str, Any]:
    """Train TD3 on one id and setting (in ``mode``, or the id's default mode); the learning curve and the final
    figures."""
    fixed = setting == "fixed"
    extra = ["env.kwargs.scenario=fixed", "env.kwargs.scenario_seed=0"] if fixed else []
    if mode is not None:
        extra.append(f"env.kwargs.action_mode={mode}")
    env_cfg, agent_cfg = compose(isac_gym.ENVIRONMENTS[env_id].config_name, extra + overrides)
    agent_cfg["learning_starts"] = min(agent_cfg.get("learning_starts", 0), steps // 4)
    if lagrangian.enabled(agent_cfg):  # as train.py: the objective reward, the constraints through the multipliers
        env_cfg = lagrangian.objective_env(env_cfg)
    eval_env = gym.make(env_id, max_episode_steps=env_cfg["max_episode_steps"], **env_cfg["kwargs"])
    seeds = (0,) if fixed else EVAL_SEEDS
    refs = {s: compute_reference(eval_env, s) for s in seeds}
    venv = make_training_env(env_cfg, 1, "native", seed)
    pid = lagrangian.for_env(agent_cfg, eval_env) if lagrangian.enabled(agent_cfg) else None
    if pid is not None:
        venv = lagrangian.LagrangianVecEnv(venv, pid)
    model = build_model(agent_cfg, venv, seed, None, pid)
    curve = []
    seconds = 0.0  # training only: the curve's evaluations are not counted
    chunk = max(steps // CURVE_POINTS, 1)
    done = 0
    while done < steps:
        t0 = time.perf_counter()
        model.learn(min(chunk, steps - done), reset_num_timesteps=False)
        seconds += time.perf_counter() - t0
        done = model.num_timesteps
        point = evaluate_model(model, eval_env, seeds, refs)
        curve.append((done, point["score"], point["ratio"]))
    final = evaluate_model(model, eval_env, seeds, refs)
    return {"id": env_id, "setting": setting, "seed": seed, "steps": steps, "train_s": round(seconds, 1),
            "score": final["score"], "ratio": final["ratio"], "feasible": final["feasible"],
            "violation": final["violation"], "curve": curve, "action_mode": env_cfg["kwargs"].get("action_mode"),
            "agent": "td3-lagrangian" if pid is not None else "td3",
            "lagrange": None if pid is None else dict(zip(pid.constraints, pid.multipliers.tolist(), strict=True))}


def time_to(result: dict, level: float) -> float | None:
    """Training seconds until the learning curve first reaches ``level`` (curve points are equally spaced in steps,
    so time is prorated by steps), or None."""
    for steps, score, *_ in result["curve"]:
        if score >= level:
            return result["train_s"] * steps / result["steps"]
    return None


def table(results: list[dict]) -> str:
    """Markdown table per id, setting and action mode: mean (min..max) over seeds of ISAC-Bench's score (infeasible
    = 0) and the mean objective ratio, the feasibility rate, the mean largest raw violation of the final
    configurations, the time to reach a score of 0.5 and the training time."""
    rows = ["| id | setting | action mode | agent | steps | score (0 random, 1 oracle; infeasible 0) | objective ratio | "
            "feasible | largest violation | time to score 0.5 | train time / seed |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def key_of(r: dict) -> tuple:
        return r["id"], r["setting"], r["action_mode"], r.get("agent", "td3")

    keys = sorted({key_of(r) for r in results},
                  key=lambda k: (list(protocol.IDS).index(k[0]), k[1], str(k[2]), k[3]))
    for key in keys:
        group = [r for r in results if key_of(r) == key]
        s = np.array([r["score"] for r in group])
        f = np.mean([r["feasible"] for r in group])
        t = np.mean([r["train_s"] for r in group])
        v = np.mean([r.get("violation", float("nan")) for r in group])
        ratio = np.mean([r.get("ratio", float("nan")) for r in group])
        reach = [time_to(r, 0.5) for r in group]
        reached = [x for x in reach if x is not None]
        when = (f"{np.mean(reached) / 60:.1f} min ({len(reached)}/{len(group)} seeds)" if reached else
                f"not reached ({len(group)} seeds)")
        rows.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {group[0]['steps']} | "
                    f"{s.mean():.2f} ({s.min():.2f}..{s.max():.2f}) | {ratio:.2f} | {100 * f:.0f} % | {v:.3g} | "
                    f"{when} | {t / 60:.1f} min |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks learn", description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="+", default=list(protocol.IDS), choices=protocol.IDS, metavar="ID")
    parser.add_argument("--modes", nargs="+", default=[None], metavar="MODE",
                        help="action modes to train in (default: each id's default mode)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--scenario", nargs="+", default=["fixed", "random"], choices=["fixed", "random"])
    parser.add_argument("--steps", type=int, default=None,
                        help="TD3 steps per run (default: each id's registered learning_steps)")
    parser.add_argument("--override", nargs="*", default=[], help="Hydra overrides, e.g. env.kwargs.action_mode=direct")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    results = []
    for env_id in args.ids:
        for mode in args.modes:
            for setting in args.scenario:
                for seed in args.seeds:
                    r = run(env_id, setting, seed, args.steps or isac_gym.ENVIRONMENTS[env_id].learning_steps,
                            args.override, mode)
                    curve = " ".join(f"{n}:{s:.2f}/{q:.2f}" for n, s, q in r["curve"])
                    print(f"{env_id} {r['action_mode']} {setting} seed {seed}: score {r['score']:.2f}, ratio "
                          f"{r['ratio']:.2f}, feasible {r['feasible']:.0%} (largest violation {r['violation']:.3g}), "
                          f"{r['train_s']:.0f} s; curve (steps:score/ratio) {curve}", flush=True)
                    results.append(r)
    print(table(results))
    if args.json:
        save_report(args.json, {"results": results})
