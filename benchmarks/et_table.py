"""ISAC-ET-v0: CRBs of the SDR oracle and the paper's baselines on seeded scenarios, and the CRB-SINR trade-off.

Usage: ``python -m benchmarks.et_table [--seeds 20] [--thresholds 0 10 20] [--json out.json]``. Every policy
solves the same scenarios (``reset(seed=s)``); the table gives the mean over seeds of tr(CRB) and of each
parameter's CRB, the coverage ratio, the feasibility rate (SINR, power and coverage by the env's own check), how
often the oracle is below each baseline, and the mean wall time. The second table repeats the oracle and the
baselines at several SINR thresholds Gamma (the trend of Fig. 6 of [ET]: a higher Gamma costs sensing accuracy).
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import isac_gym  # noqa: F401
from benchmarks import save_report
from isac_gym import oracles

POLICIES = ("oracle", "pt_centric", "avg_coverage", "random")
KEYS = ("crb_trace", "crb_range", "crb_azimuth", "crb_elevation", "crb_orientation")


def _run(kwargs: dict, policies: tuple[str, ...], seeds: int) -> dict:
    env = gym.make("ISAC-ET-v0", **kwargs)
    rows = {}
    for name in policies:
        per = {k: [] for k in KEYS + ("coverage_db", "feasible", "seconds")}
        for seed in range(seeds):
            env.reset(seed=seed)
            sol = oracles.make(env, name, seed=seed).solve(env.unwrapped.current_scenario)
            for k in KEYS + ("coverage_db",):
                per[k].append(float(sol.info[k]))
            per["feasible"].append(bool(sol.feasible))
            per["seconds"].append(sol.seconds)
        rows[name] = per
    return rows


def _print(rows: dict) -> None:
    print(f"{'policy':14s}{'tr CRB':>11s}{'range m^2':>11s}{'az rad^2':>11s}{'el rad^2':>11s}{'psi rad^2':>11s}"
          f"{'cov dB':>8s}{'feasible':>9s}{'s/scen':>8s}")
    for name, per in rows.items():
        print(f"{name:14s}" + "".join(f"{np.mean(per[k]):11.3e}" for k in KEYS)
              + f"{np.mean(per['coverage_db']):8.2f}{np.mean(per['feasible']):9.2f}{np.mean(per['seconds']):8.2f}")
    if "oracle" in rows:
        ref = np.asarray(rows["oracle"]["crb_trace"])
        for name, per in rows.items():
            if name != "oracle":
                other = np.asarray(per["crb_trace"])
                gain = 100.0 * (1.0 - ref / other)
                feas = np.asarray(per["feasible"])
                print(f"  oracle below {name:13s} on {np.mean(ref < other) * 100:5.1f} % of seeds, tr CRB "
                      f"{np.mean(gain):6.2f} % lower on average (min {np.min(gain):6.2f} %, max {np.max(gain):6.2f} %); "
                      f"where {name} is feasible: below on {np.sum((ref < other) & feas)} of {np.sum(feas)}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--policies", nargs="*", default=list(POLICIES))
    parser.add_argument("--thresholds", nargs="*", type=float, default=[0.0, 10.0, 20.0],
                        help="SINR thresholds Gamma (dB) of the trade-off table")
    parser.add_argument("--threshold-seeds", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    report = {"defaults": _run({}, tuple(args.policies), args.seeds), "thresholds": {}}
    print(f"ISAC-ET-v0 at the defaults, {args.seeds} seeds")
    _print(report["defaults"])
    for gamma in args.thresholds:
        rows = _run({"sinr_min_db": gamma}, tuple(p for p in args.policies if p != "random"), args.threshold_seeds)
        report["thresholds"][gamma] = rows
        print(f"\nGamma = {gamma:g} dB, {args.threshold_seeds} seeds")
        _print(rows)
    save_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
