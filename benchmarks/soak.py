"""Soak: resident memory stays flat over long runs of every id (single env, vector env, oracles).

Usage: ``python -m benchmarks soak [--ids ...] [--steps 100000] [--vector-steps 1000] [--num-envs 256]
[--oracle-scenarios 200] [--json out.json]``.

Each part runs in a fresh process, so one part's memory does not hide another's. Resident memory (VmRSS) is
sampled 40 times over the run; ``start`` is the median of the samples between 10 % and 30 % of the run (after a
warm-up in which caches, lazily built constants and allocator pools fill up), ``end`` the median of the last
fifth, and the growth their ratio (goal: under 5 %). Medians, because the vector env's large temporaries make
the allocator's footprint swing by several MiB from one step to the next; ``peak`` is the largest sample. A
leak grows with the run; a one-time allocation (e.g. an oracle's second cached program on its first repair)
is a step that stays flat after it. A count of 0 skips that part: ``--oracle-scenarios 0`` the oracles (200
scenarios in a row take from a few minutes to about 20 minutes per id at the defaults), ``--steps 0
--vector-steps 0`` everything but the oracles.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks import save_report

GROWTH_GOAL = 0.05


def cases() -> list[tuple[str, dict]]:
    """Every registered id in its default action mode, then in each of its other modes (each mode has its own
    decode path): ``(id, kwargs)``."""
    import isac_gym
    from isac_gym.envs.base import action_modes, default_action_mode

    out = []
    for env_id, reg in isac_gym.ENVIRONMENTS.items():
        options = reg.system_class.options_class
        out.append((env_id, {}))
        out += [(env_id, {"action_mode": m}) for m in action_modes(options) if m != default_action_mode(options)]
    return out


SAMPLES = 40


def rss_mib() -> float:
    """Current resident memory of this process (MiB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Tracker:
    """Samples resident memory ``SAMPLES`` times over ``count`` iterations."""

    def __init__(self, count: int):
        self.every = max(1, count // SAMPLES)
        self.samples: list[tuple[int, float]] = []
        self.count = count
        self.t0 = time.perf_counter()

    def tick(self, i: int) -> None:
        if i % self.every == 0 or i == self.count - 1:
            self.samples.append((i, rss_mib()))

    def result(self) -> dict:
        import numpy as np

        at = np.array([i for i, _ in self.samples]) / max(1, self.count - 1)
        mib = np.array([m for _, m in self.samples])
        start = float(np.median(mib[(at >= 0.1) & (at <= 0.3)] if np.any((at >= 0.1) & (at <= 0.3)) else mib[:1]))
        end = float(np.median(mib[at >= 0.8]))
        return {"start_mib": start, "end_mib": end, "peak_mib": float(mib.max()),
                "seconds": time.perf_counter() - self.t0}


def _single(env_id: str, kwargs: dict, steps: int) -> dict:
    import gymnasium as gym
    import numpy as np

    import isac_gym  # noqa: F401

    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (1024,) + env.action_space.shape).astype(np.float32)
    track = _Tracker(steps)
    for i in range(steps):
        _, _, term, trunc, _ = env.step(actions[i % len(actions)])
        if term or trunc:
            env.reset()
        track.tick(i)
    return track.result()


def _vector(env_id: str, kwargs: dict, steps: int, num_envs: int) -> dict:
    import gymnasium as gym
    import numpy as np

    import isac_gym  # noqa: F401

    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (8, num_envs) + env.single_action_space.shape)
    actions = actions.astype(np.float32)
    track = _Tracker(steps)
    for i in range(steps):
        env.step(actions[i % len(actions)])
        track.tick(i)
    return track.result()


def _oracle(env_id: str, kwargs: dict, scenarios: int) -> dict:
    import gymnasium as gym

    import isac_gym  # noqa: F401
    from isac_gym import oracles

    env = gym.make(env_id, **kwargs)
    policy = oracles.make(env, "oracle")
    feasible = 0
    track = _Tracker(scenarios)
    for s in range(scenarios):
        env.reset(seed=20_000 + s)
        feasible += bool(policy.solve(env.unwrapped.current_scenario).feasible)
        track.tick(s)
    return {**track.result(), "feasible": feasible}


def _child(part: str, env_id: str, kwargs: dict, count: int, num_envs: int) -> None:
    if part == "single":
        out = _single(env_id, kwargs, count)
    elif part == "vector":
        out = _vector(env_id, kwargs, count, num_envs)
    else:
        out = _oracle(env_id, kwargs, count)
    print(json.dumps(out))


def measure(part: str, env_id: str, kwargs: dict, count: int, num_envs: int = 256) -> dict:
    """Run one soak part in a fresh process; its memory at warm-up and at the end, and the growth."""
    code = (f"from benchmarks.soak import _child; _child({part!r}, {env_id!r}, {kwargs!r}, {count}, {num_envs})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["growth"] = (out["end_mib"] - out["start_mib"]) / out["start_mib"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", default=None, help="env ids (default: every id and FIM's two modes)")
    parser.add_argument("--steps", type=int, default=100_000, help="single-env steps per case (0 skips)")
    parser.add_argument("--vector-steps", type=int, default=1000, help="batched steps of the vector env (0 skips)")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--oracle-scenarios", type=int, default=200, help="scenarios solved in a row (0 skips)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    chosen = [c for c in cases() if args.ids is None or c[0] in args.ids]
    report = {}
    print(f"resident memory after warm-up -> at the end, medians (goal: growth < {GROWTH_GOAL:.0%})")
    for env_id, kwargs in chosen:
        name = env_id + "".join(f" {k}={v}" for k, v in kwargs.items())
        parts = [("single", args.steps), ("vector", args.vector_steps)]
        if not kwargs:
            parts.append(("oracle", args.oracle_scenarios))
        parts = [(part, count) for part, count in parts if count > 0]
        report[name] = {}
        for part, count in parts:
            row = measure(part, env_id, kwargs, count, args.num_envs)
            report[name][part] = row
            unit = {"single": "steps", "vector": f"steps x {args.num_envs}", "oracle": "scenarios"}[part]
            flag = "ok" if row["growth"] < GROWTH_GOAL else "GROWS"
            extra = f", {row['feasible']}/{count} feasible" if part == "oracle" else ""
            print(f"{name:<36} {part:<7} {count:>7} {unit:<14} {row['start_mib']:8.1f} -> {row['end_mib']:8.1f} MiB "
                  f"({row['growth']:+.1%}, {flag}; peak {row['peak_mib']:.1f}) in {row['seconds']:.0f} s{extra}",
                  flush=True)
    save_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
