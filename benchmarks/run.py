"""Step throughput, vector speed-up, memory and oracle runtime (what each figure measures and its goal: docs/performance.md).

Usage: ``python -m benchmarks [--ids ISAC-FIM-v0] [--steps 3000] [--num-envs 256] [--json out.json]``.
Throughputs are reported as ratios over Gymnasium's ``Pendulum-v1`` measured in the same run,
because these machines are shared and absolute times are not comparable from run to run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np

import isac_gym
from benchmarks import save_report
from isac_gym import oracles

TD3_GOAL = 0.95
SB3VEC_GOAL = 10.0
#: Average execution time (s) of ADMM-MM for the detection task, Table I of [RIS-SLP], by N.
PAPER_TABLE_I = {32: 0.414, 64: 3.490, 128: 22.136}
#: Table I of [ET] (3D extended target sensing in ISAC): SDR of P1 and SCA of P2, seconds per scenario.
ET_TABLE_I = {"sdr": 49.7813, "sca": 125.4219}


def _stepper(env_id: str, steps: int, **kwargs):
    """A function timing ``steps`` steps of ``gym.make(env_id)`` (default wrappers) under pre-drawn actions."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high,
                          (steps,) + env.action_space.shape).astype(env.action_space.dtype)
    for a in actions[:50]:  # warm-up
        env.step(a)

    def rate() -> float:
        t0 = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return steps / (time.perf_counter() - t0)

    return rate


def single_steps_per_second(env_id: str, steps: int, **kwargs) -> float:
    """Steps/s of ``gym.make(env_id)`` (with its default wrappers), the best of 3 timings."""
    rate = _stepper(env_id, steps, **kwargs)
    return max(rate() for _ in range(3))


#: Steps per timing window of :func:`single_ratio`: short windows, many alternations.
RATIO_WINDOW = 250


def single_ratio(env_id: str, steps: int, rounds: int = 3, **kwargs) -> tuple[float, float]:
    """Single-env steps/s of ``env_id`` and its ratio over ``Pendulum-v1``, the best of each over alternating
    windows of at most :data:`RATIO_WINDOW` steps (``rounds`` times ``steps`` steps of each in all). Shared
    machines change speed over seconds; short windows in alternation let both be timed in the same phases."""
    window = min(steps, RATIO_WINDOW)
    env_rate, pendulum_rate = _stepper(env_id, window, **kwargs), _stepper("Pendulum-v1", window)
    best_env = best_pendulum = 0.0
    for _ in range(max(rounds, rounds * steps // window)):
        best_pendulum = max(best_pendulum, pendulum_rate())
        best_env = max(best_env, env_rate())
    return best_env, best_env / best_pendulum


def _vector_stepper(env_id: str, num_envs: int, steps: int):
    """A function timing ``steps`` batched steps of ``make_vec(..., vectorization_mode="vector_entry_point")``
    (env-steps/s) under pre-drawn actions."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (8, num_envs) + env.single_action_space.shape).astype(np.float32)
    env.step(actions[0])

    def rate() -> float:
        t0 = time.perf_counter()
        for i in range(steps):
            env.step(actions[i % 8])
        return num_envs * steps / (time.perf_counter() - t0)

    return rate


def vector_speedup(env_id: str, num_envs: int, steps: int, rounds: int = 15) -> tuple[float, float]:
    """Env-steps/s of the vector env and its speed-up over the single env, the best of each over ``rounds``
    alternating timings (``steps`` batched steps, :data:`RATIO_WINDOW` single steps), like :func:`single_ratio`."""
    vector_rate, single_rate = _vector_stepper(env_id, num_envs, steps), _stepper(env_id, RATIO_WINDOW)
    best_vector = best_single = 0.0
    for _ in range(rounds):
        best_single = max(best_single, single_rate())
        best_vector = max(best_vector, vector_rate())
    return best_vector, best_vector / best_single


def _peak_rss_child(env_id: str, num_envs: int) -> None:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    for _ in range(20):
        env.step(env.action_space.sample())
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a large
    # parent would report the parent's peak
    with open("/proc/self/status") as fh:
        print(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))  # KiB


def peak_rss_gib(env_id: str, num_envs: int) -> float:
    """Peak resident memory (GiB) of a fresh process that builds and steps the vector env."""
    code = f"from benchmarks.run import _peak_rss_child; _peak_rss_child({env_id!r}, {num_envs})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 2**20


class ZeroCostEnv(gym.Env):
    """An env with given spaces whose step costs nothing: the reference for an agent's own cost."""

    def __init__(self, observation_space, action_space, horizon: int):
        self.observation_space, self.action_space, self.horizon = observation_space, action_space, horizon
        self._obs = np.zeros(observation_space.shape, np.float32)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action):
        self._t += 1
        return self._obs, 0.0, False, self._t >= self.horizon, {}


def _td3(env):
    """SB3 TD3 (the suite's agent config, small buffer) on ``env``, past its learning start."""
    from stable_baselines3 import TD3

    model = TD3("MlpPolicy", env, learning_starts=100, buffer_size=10_000, batch_size=128,
                policy_kwargs={"net_arch": [256, 256]}, device="cpu", seed=0)
    model.learn(150)
    return model


def td3_ratio(env_id: str, steps: int, rounds: int = 5) -> float:
    """TD3 steps/s on the env over the same agent on a zero-cost env of identical spaces (goal >= 0.95), the best
    of each over ``rounds`` alternating windows of ``steps / rounds`` steps, like :func:`single_ratio`."""
    env = gym.make(env_id)
    zero = gym.wrappers.TimeLimit(ZeroCostEnv(env.observation_space, env.action_space, env.spec.max_episode_steps),
                                  env.spec.max_episode_steps)
    models = (_td3(env), _td3(zero))
    window = max(1, steps // rounds)
    best = [0.0, 0.0]
    for _ in range(rounds):
        for i, model in enumerate(models):
            t0 = time.perf_counter()
            model.learn(window, reset_num_timesteps=False)
            best[i] = max(best[i], window / (time.perf_counter() - t0))
    return best[0] / best[1]


def sb3vec_ratio(env_id: str, n_envs: int, steps: int, rounds: int = 5) -> float:
    """Env-steps/s of SB3VecEnv over SB3's DummyVecEnv of scalar envs at ``n_envs`` (goal >= 10), the best of each
    over ``rounds`` alternating windows of ``steps`` batched steps."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from isac_gym.wrappers import SB3VecEnv

    native = SB3VecEnv(gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point"))
    dummy = DummyVecEnv([lambda: gym.make(env_id) for _ in range(n_envs)])
    acts = np.random.default_rng(0).uniform(-1, 1, (4, n_envs) + native.action_space.shape).astype(np.float32)
    for venv in (native, dummy):
        venv.seed(0)
        venv.reset()
        venv.step(acts[0])
    best = [0.0, 0.0]
    for _ in range(rounds):
        for k, venv in enumerate((native, dummy)):
            t0 = time.perf_counter()
            for i in range(steps):
                venv.step(acts[i % 4])
            best[k] = max(best[k], n_envs * steps / (time.perf_counter() - t0))
    return best[0] / best[1]


def oracle_seconds(env_id: str, name: str, scenarios: int, **kwargs) -> float:
    """Mean wall time of ``policy.solve`` over seeded scenarios (a solve does not depend on the action mode)."""
    env = gym.make(env_id, **kwargs)
    policy = oracles.make(env, name)
    times = []
    for s in range(scenarios):
        env.reset(seed=10_000 + s)
        times.append(policy.solve(env.unwrapped.current_scenario).seconds)
    return float(np.mean(times))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", default=sorted(isac_gym.ENVIRONMENTS))
    parser.add_argument("--steps", type=int, default=3000, help="single-env steps per timing")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--vector-steps", type=int, default=40)
    parser.add_argument("--oracle-scenarios", type=int, default=2)
    parser.add_argument("--oracles", nargs="*", default=["oracle"])
    parser.add_argument("--td3-steps", type=int, default=600, help="TD3 steps per timing (0 skips the TD3 figure)")
    parser.add_argument("--sb3vec-envs", type=int, default=64)
    parser.add_argument("--sb3vec-steps", type=int, default=20, help="(0 skips the SB3VecEnv figure)")
    parser.add_argument("--no-table1", dest="table1", action="store_false",
                        help="skip the RIS-SLP oracle timing at N = 32, 64, 128 against Table I of the RIS-SLP paper")
    parser.add_argument("--no-et-table", dest="et_table", action="store_false",
                        help="skip the ISAC-ET-v0 SDR and SCA timing against Table I of the ET paper")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    pendulum = single_steps_per_second("Pendulum-v1", args.steps)
    print(f"Pendulum-v1: {pendulum:,.0f} steps/s (reference)")
    report = {"pendulum_steps_per_s": pendulum, "envs": {}}
    for env_id in args.ids:
        single, ratio = single_ratio(env_id, args.steps)
        vec, speedup = vector_speedup(env_id, args.num_envs, args.vector_steps)
        rss = peak_rss_gib(env_id, args.num_envs)
        # the single-env and vector ratios are printed without goals: training is network-bound (docs/performance.md)
        row = {"single_steps_per_s": single, "single_ratio_vs_pendulum": ratio,
               "vector_env_steps_per_s": vec, "vector_speedup": speedup,
               "vector_peak_rss_gib": rss, "oracle_seconds": {}}
        if args.td3_steps > 0:
            row["td3_ratio_vs_zero_cost"] = td3_ratio(env_id, args.td3_steps)
        if args.sb3vec_steps > 0:
            row["sb3vec_ratio_vs_dummy"] = sb3vec_ratio(env_id, args.sb3vec_envs, args.sb3vec_steps)
        if gym.make(env_id).unwrapped.system.options.action_mode != "direct":
            row["single_direct_ratio_vs_pendulum"] = single_ratio(env_id, args.steps, action_mode="direct")[1]
        for name in args.oracles:
            if args.oracle_scenarios > 0 and name in oracles.names(gym.make(env_id)):
                row["oracle_seconds"][name] = oracle_seconds(env_id, name, args.oracle_scenarios)
        report["envs"][env_id] = row
        print(f"\n{env_id}")
        print(f"  single env        {single:>10,.0f} steps/s  ratio {row['single_ratio_vs_pendulum']:.3f}")
        if "single_direct_ratio_vs_pendulum" in row:
            print(f"  single env direct                      ratio {row['single_direct_ratio_vs_pendulum']:.3f}")
        print(f"  vector x{args.num_envs:<8} {vec:>10,.0f} env-steps/s  speed-up {row['vector_speedup']:.1f}x")
        print(f"  vector peak RSS   {rss:.2f} GiB (goal < 2)")
        if "td3_ratio_vs_zero_cost" in row:
            print(f"  SB3 TD3 steps/s over a zero-cost env  ratio {row['td3_ratio_vs_zero_cost']:.3f} (goal >= {TD3_GOAL})")
        if "sb3vec_ratio_vs_dummy" in row:
            print(f"  SB3VecEnv x{args.sb3vec_envs} over DummyVecEnv  {row['sb3vec_ratio_vs_dummy']:.1f}x "
                  f"(goal >= {SB3VEC_GOAL})")
        for name, sec in row["oracle_seconds"].items():
            print(f"  {name:<17} {sec:.2f} s / scenario")
    if args.table1 and "ISAC-RIS-SLP-v0" in args.ids and args.oracle_scenarios > 0:
        print("\nISAC-RIS-SLP-v0 oracle vs the paper's ADMM-MM (Table I of [RIS-SLP]), seconds per scenario")
        report["table1"] = {}
        for n, paper in PAPER_TABLE_I.items():
            sec = oracle_seconds("ISAC-RIS-SLP-v0", "oracle", max(args.oracle_scenarios, 1), n_elements=n)
            report["table1"][n] = {"oracle_s": sec, "paper_admm_mm_s": paper}
            print(f"  N = {n:<4} oracle {sec:7.3f} s   paper ADMM-MM {paper:7.3f} s   ratio {sec / paper:.2f}")
    if args.et_table and "ISAC-ET-v0" in args.ids and args.oracle_scenarios > 0:
        print("\nISAC-ET-v0 solvers vs Table I of [ET] (seconds per scenario at the defaults)")
        report["et_table1"] = {}
        for name, problem, paper in (("sdr", "crb", ET_TABLE_I["sdr"]), ("sca", "wim", ET_TABLE_I["sca"])):
            sec = oracle_seconds("ISAC-ET-v0", name, max(args.oracle_scenarios, 1), problem=problem)
            report["et_table1"][name] = {"seconds": sec, "paper_s": paper}
            print(f"  {name.upper():<4} {sec:7.2f} s   paper {paper:7.2f} s   {paper / sec:.1f}x under it (goal >= 10x)")
    save_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
