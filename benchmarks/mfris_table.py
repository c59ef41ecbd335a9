"""ISAC-MFRIS-v0: summed echo SINR of the protocols and surfaces (and of the oracle's baselines) on seeded scenarios.

Usage: ``python -m benchmarks.mfris_table [--seeds 20] [--policies oracle] [--json out.json]``. Every variant
solves the same channels (``reset(seed=s)``); the table gives the mean over seeds of each side's echo SINR and of
the sum in dB, the feasibility rate and the mean wall time, beside the paper's reported gains of MF-RIS (ES).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import isac_gym  # noqa: F401
from benchmarks import save_report
from isac_gym import oracles

VARIANTS = {"ES": {}, "MS": {"protocol": "MS"}, "TS": {"protocol": "TS"}, "active": {"surface": "active"},
            "star": {"surface": "star"}, "passive": {"surface": "passive"}}
#: Sensing-SINR gains of MF-RIS (ES) reported in the abstract of [MF-RIS].
PAPER_GAINS = {"active": 52.2, "passive": 73.5, "star": 60.86}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--policies", nargs="*", default=["oracle"], help="e.g. oracle sdr random_coefficients")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = {}
    for variant in args.variants:
        env = gym.make("ISAC-MFRIS-v0", **VARIANTS[variant])
        for name in args.policies:
            sums, sides, feas, secs = [], [], [], []
            for seed in range(args.seeds):
                env.reset(seed=seed)
                t0 = time.perf_counter()
                sol = oracles.make(env, name, seed=seed).solve(env.unwrapped.current_scenario)
                secs.append(time.perf_counter() - t0)
                sums.append(sol.info["objective_db"])
                sides.append(sol.info["echo_sinr_db"])
                feas.append(sol.feasible)
            key = f"{variant}/{name}"
            rows[key] = {"sum_db": float(np.mean(sums)), "sum_db_per_seed": [float(v) for v in sums],
                         "reflection_db": float(np.mean(np.asarray(sides)[:, 0])),
                         "refraction_db": float(np.mean(np.asarray(sides)[:, 1])),
                         "feasible": float(np.mean(feas)), "seconds": float(np.mean(secs))}
            r = rows[key]
            print(f"{key:18s} sum {r['sum_db']:7.2f} dB  (r {r['reflection_db']:7.2f}, t {r['refraction_db']:7.2f})  "
                  f"feasible {r['feasible']:.2f}  {r['seconds']:.1f} s/scenario", flush=True)
    if "ES/oracle" in rows:
        print("\nMF-RIS (ES) over the comparison surfaces (mean of linear sums over seeds; the paper's gains beside)")
        es = np.mean(10 ** (np.asarray(rows["ES/oracle"]["sum_db_per_seed"]) / 10))
        for other, paper in PAPER_GAINS.items():
            if f"{other}/oracle" in rows:
                lin = np.mean(10 ** (np.asarray(rows[f"{other}/oracle"]["sum_db_per_seed"]) / 10))
                print(f"  over {other:8s} {10 * np.log10(es / lin):6.1f} dB (x{es / lin:.3g})   paper +{paper} %")
    save_report(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
