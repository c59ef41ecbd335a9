"""Each paper's comparisons as figures: ``python -m isac_gym.bench figures`` (docs/results.md).

A :class:`Figure` sweeps one quantity of an id (the power budget, the number of users, a threshold...) and, at
every point, solves the same scenarios (``reset(seed=s)`` for the first evaluation seeds of the protocol) with
each series' policy: the oracle, the paper's baselines, or a trained agent acting for one episode. Each point is
the mean over those scenarios of a metric of the env's own ``evaluate`` of the answer (dB metrics averaged in
dB), drawn with a filled marker where every answer met every constraint and a hollow one where some did not.

Every measured point is kept in a JSON file per figure under the work folder as soon as it is computed, keyed by
everything it depends on (id, kwargs, policy, scenario), so an interrupted run resumes and a rerun recomputes
nothing. The PNGs and one markdown file of tables (``figures.md``) go to the output folder. Learning curves of a
``train.py`` sweep (:class:`~isac_gym.bench.trained.Curve` s, its ``eval/score``) are drawn by
:func:`learning_curves`. Every answer goes through the protocol's own functions (:func:`protocol.policy_for`,
:func:`protocol.answer`): a figure solves and acts exactly as the bench does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import protocol
from .trained import Curve, TrainedModel, agent_env

Kwargs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Metric:
    """A quantity of the env's ``evaluate`` info: ``key``, its axis ``label`` and how it is drawn (``"db"``:
    ``10 log10`` of a linear power ratio; ``"log"``: a logarithmic axis; ``"linear"``)."""

    key: str
    label: str
    scale: str = "linear"

    def value(self, info: dict) -> float:
        x = float(info[self.key])
        if self.scale == "db":
            return 10.0 * np.log10(max(x, 1e-300))
        return x


@dataclass(frozen=True)
class Series:
    """One curve: ``policy`` (an oracle or baseline name of the id) on the id with ``env_kwargs`` added."""

    label: str
    policy: str
    env_kwargs: Kwargs = ()


@dataclass(frozen=True)
class Figure:
    """A sweep of an id: ``points`` are ``(x, kwargs at x)``; every series is solved at every point."""

    name: str
    env_id: str
    title: str
    counterpart: str
    xlabel: str
    points: tuple[tuple[float, Kwargs], ...]
    series: tuple[Series, ...]
    metrics: tuple[Metric, ...]
    env_kwargs: Kwargs = ()


def sweep(kwarg: str, values: Iterable[float]) -> tuple[tuple[float, Kwargs], ...]:
    """Points that set one env kwarg to each value."""
    return tuple((v, ((kwarg, v),)) for v in values)


CRB_RAD = Metric("objective", "CRB (rad$^2$)", "log")

#: The figures of docs/results.md, one or more per paper.
FIGURES: tuple[Figure, ...] = (
    Figure("fim_crb_vs_power", "ISAC-FIM-v0", "FIM: CRB vs transmit budget (K = 4)", "Fig. 5 of [FIM]",
           "$P_{max}$ (dBm)", sweep("p_max_dbm", (10.0, 15.0, 20.0, 25.0, 30.0)),
           (Series("joint (oracle)", "oracle"), Series("receive only", "rx_only"),
            Series("transmit only", "tx_only"), Series("rigid", "rigid")), (CRB_RAD,)),
    Figure("fim_crb_vs_users", "ISAC-FIM-v0", "FIM: CRB vs number of users ($P_{max}$ = 20 dBm)", "Fig. 4 of [FIM]",
           "users K", sweep("n_users", (2, 3, 4, 5, 6)),
           (Series("joint (oracle)", "oracle"), Series("receive only", "rx_only"),
            Series("transmit only", "tx_only"), Series("rigid", "rigid")), (CRB_RAD,)),
    Figure("sim_weights", "ISAC-SIM-v0", r"SIM: weighted problem vs sensing weight ($\omega_c = 1 - \omega_s$)",
           "Fig. 5 of [SIM]", r"$\omega_s$",
           tuple((w, (("w_sense", w), ("w_comm", round(1.0 - w, 6)))) for w in (0.1, 0.3, 0.5, 0.7, 0.9)),
           (Series("D3 at the weights (oracle)", "oracle"), Series("communication only", "comm_only"),
            Series("sensing only", "sensing_only")),
           (Metric("mse_db", "beam-matching error (dB)"), Metric("sum_rate", "sum rate (bit/s/Hz)")),
           env_kwargs=(("problem", "weighted"),)),
    Figure("mfris_echo_vs_power", "ISAC-MFRIS-v0", "MF-RIS: echo SINR vs total power", "Fig. 7 of [MF-RIS]",
           "$P_{max}$ (dBm)", sweep("p_max_dbm", (30.0, 35.0, 40.0, 45.0)),
           (Series("MF-RIS ES", "oracle"), Series("MF-RIS MS", "oracle", (("protocol", "MS"),)),
            Series("MF-RIS TS", "oracle", (("protocol", "TS"),)),
            Series("active RIS", "oracle", (("surface", "active"),)),
            Series("STAR-RIS", "oracle", (("surface", "star"),)),
            Series("passive RIS", "oracle", (("surface", "passive"),))),
           (Metric("objective", "summed echo SINR (dB)", "db"),)),
    Figure("ris_slp_sinr_vs_power", "ISAC-RIS-SLP-v0", "RIS-SLP: radar SINR vs transmit power (N = 64)",
           "Fig. 4 of [RIS-SLP]", "P (dBm)", sweep("p_max_dbm", (40.0, 45.0, 50.0, 55.0)),
           (Series("RIS-SLP (oracle)", "oracle"), Series("random RIS", "random_ris"), Series("no RIS", "no_ris"),
            Series("radar only", "radar_only")), (Metric("objective", "radar SINR (dB)", "db"),)),
    Figure("ris_slp_sinr_vs_elements", "ISAC-RIS-SLP-v0", "RIS-SLP: radar SINR vs RIS elements (P = 50 dBm)",
           "Fig. 5 of [RIS-SLP]", "RIS elements N", sweep("n_elements", (16, 36, 64, 100)),
           (Series("RIS-SLP (oracle)", "oracle"), Series("random RIS", "random_ris"), Series("no RIS", "no_ris"),
            Series("radar only", "radar_only")), (Metric("objective", "radar SINR (dB)", "db"),)),
    Figure("ris_slp_sinr_vs_clutter", "ISAC-RIS-SLP-v0", "RIS-SLP: radar SINR vs clutter RCS (P = 50 dBm)",
           "the clutter model of [RIS-SLP] (no figure: how much the clutter costs)", "clutter RCS (dBsm)",
           tuple((x, (("clutter_rcs", 10.0 ** (x / 10.0)),)) for x in (-90.0, -30.0, 0.0, 30.0)),
           (Series("RIS-SLP (oracle)", "oracle"), Series("no RIS", "no_ris")),
           (Metric("objective", "radar SINR (dB)", "db"),)),
    Figure("ris_slp_doa_crb_vs_qos", "ISAC-RIS-SLP-DoA-v0", "RIS-SLP: DoA CRB vs users' QoS (P = 40 dBm)",
           "Fig. 9 of [RIS-SLP]", r"$\Gamma$ (dB)", sweep("qos_db", (4.0, 7.0, 10.0, 13.0)),
           (Series("RIS-SLP (oracle)", "oracle"), Series("random RIS", "random_ris"),
            Series("radar only", "radar_only")), (CRB_RAD,)),
    Figure("et_crb_vs_threshold", "ISAC-ET-v0", "ET: tr CRB vs users' SINR threshold", "Fig. 6 of [ET]",
           r"$\Gamma$ (dB)", sweep("sinr_min_db", (0.0, 5.0, 10.0, 15.0, 20.0)),
           (Series("SDR (oracle)", "oracle"), Series("point-target centric", "pt_centric"),
            Series("average coverage", "avg_coverage")), (Metric("objective", "tr CRB", "log"),)),
)


def point_key(env_id: str, env_kwargs: dict[str, Any], policy: str, seed: int) -> str:
    """What a measured point depends on, hashed: the id, its kwargs, the policy and the scenario seed."""
    text = json.dumps([env_id, env_kwargs, policy, seed], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class PointStore:
    """The measured points of one figure in a JSON file, saved after each new point (atomic replace)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.points: dict[str, dict] = {}
        if path is not None and path.is_file():
            self.points = json.loads(path.read_text())["points"]

    def add(self, key: str, record: dict) -> None:
        self.points[key] = record
        if self.path is not None:
            protocol.write_json(self.path, {"points": self.points})


def _record(answer: protocol.Answer, metrics: tuple[Metric, ...]) -> dict:
    """What a figure keeps of one answer: its feasibility, the policy's seconds and the figure's metrics."""
    return {"feasible": bool(answer.info["feasible"]), "seconds": float(answer.seconds),
            "metrics": {m.key: m.value(answer.info) for m in metrics}}


def agent_label(model: TrainedModel) -> str:
    """A trained model's series label."""
    return f"agent ({model.algo})"


def compute(fig: Figure, seeds: tuple[int, ...], store: PointStore, agents: tuple[TrainedModel, ...] = (),
            points: tuple[tuple[float, Kwargs], ...] | None = None,
            progress: Callable[[str], None] | None = None) -> dict[str, list[list[dict | None]]]:
    """Every series of ``fig`` (and ``agents`` of its id) at every point on ``seeds``: ``{label: [[record per
    seed] per point]}``. An agent acts in the env its run saved with the point's kwargs on top
    (:func:`~isac_gym.bench.trained.agent_env`); its record is None where its spaces do not fit the point's env
    (another number of users). Points already in ``store`` are not recomputed."""
    points = fig.points if points is None else points
    lines = [(s.label, s.policy, dict(s.env_kwargs), None) for s in fig.series]
    lines += [(agent_label(a), "checkpoint", {}, a) for a in agents if a.env.env_id == fig.env_id]
    out: dict[str, list[list[dict | None]]] = {}
    for label, name, extra, model in lines:
        per_point = []
        for _, at in points:
            kwargs = {**dict(fig.env_kwargs), **extra, **dict(at)}
            steps = None
            if model is not None:
                saved = agent_env(model, fig.env_id, kwargs)
                kwargs, steps = saved.kwargs, saved.max_episode_steps
            env = policy = skip = None
            kind = "agent"
            records: list[dict | None] = []
            for s in seeds:
                key = point_key(fig.env_id, kwargs, f"{name}:{model.path}" if model else name, s)
                if key not in store.points:
                    if env is None:
                        env = protocol.make_env(fig.env_id, kwargs, steps)
                        if model is None:
                            policy, kind = protocol.policy_for(env, name)
                        else:
                            try:
                                policy = model.load(env)
                            except ValueError as exc:  # trained on other spaces (e.g. another number of users)
                                skip = str(exc)
                    record = ({"skipped": skip} if skip else
                              _record(protocol.answer(env, policy, s, solve=kind == "solver"), fig.metrics))
                    store.add(key, record)
                    if progress is not None:
                        progress(f"{label} seed {s}")
                record = store.points[key]
                records.append(None if "skipped" in record else record)
            if env is not None:
                env.close()
            per_point.append(records)
        out[label] = per_point
    return out


def summary(records: list[dict | None], key: str) -> tuple[float, float, int, int]:
    """Mean and standard error of ``key`` over the scenarios, and how many answers were feasible of how many."""
    got = [r for r in records if r is not None]
    if not got:
        return float("nan"), float("nan"), 0, 0
    x = np.array([r["metrics"][key] for r in got])
    sem = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
    return float(x.mean()), sem, sum(r["feasible"] for r in got), len(got)


def plot(fig: Figure, data: dict[str, list[list[dict | None]]], xs: list[float], path: Path) -> None:
    """One PNG: a panel per metric, a line per series (hollow markers where some answer was infeasible)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(fig.metrics)
    f, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4), dpi=100, squeeze=False)
    markers = "osD^vP*X"
    for ax, metric in zip(axes[0], fig.metrics, strict=True):
        for i, (label, per_point) in enumerate(data.items()):
            stats = [summary(r, metric.key) for r in per_point]
            mean = np.array([s[0] for s in stats])
            sem = np.array([s[1] for s in stats])
            line = ax.errorbar(xs, mean, yerr=sem, label=label, marker=markers[i % len(markers)], capsize=2,
                               markersize=5)
            colour = line[0].get_color()
            hollow = [j for j, s in enumerate(stats) if s[3] and s[2] < s[3]]
            if hollow:  # redraw the markers of the points with an infeasible answer as hollow
                ax.plot(np.asarray(xs)[hollow], mean[hollow], linestyle="none", marker=markers[i % len(markers)],
                        markersize=7, markerfacecolor="white", markeredgecolor=colour)
        if metric.scale == "log":
            ax.set_yscale("log")
        ax.set_xlabel(fig.xlabel)
        ax.set_ylabel(metric.label)
        ax.grid(alpha=0.3)
        if all(float(x).is_integer() for x in xs):
            ax.set_xticks(xs)
    axes[0][0].legend(fontsize=7)
    f.suptitle(f"{fig.title}\n(counterpart of {fig.counterpart}; hollow: infeasible on some scenario)", fontsize=9)
    f.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    f.savefig(path)
    plt.close(f)


def markdown(fig: Figure, data: dict[str, list[list[dict | None]]], xs: list[float], image: str) -> str:
    """The figure's section of ``figures.md``: its image and a table of every point (mean ± standard error,
    feasible answers of all)."""
    lines = [f"### {fig.title}", "", f"Counterpart of {fig.counterpart}; `{fig.env_id}`"
             + (f" with {dict(fig.env_kwargs)}" if fig.env_kwargs else "") + ".", "", f"![{fig.name}]({image})", ""]
    for metric in fig.metrics:
        lines += [f"| {fig.xlabel} | " + " | ".join(data) + " |", "| --- " * (len(data) + 1) + "|"]
        for j, x in enumerate(xs):
            cells = []
            for per_point in data.values():
                mean, sem, feas, n = summary(per_point[j], metric.key)
                cells.append("n/a" if n == 0 else f"{_fmt(mean, metric)} ± {_fmt(sem, metric)} ({feas}/{n})")
            lines.append(f"| {x:g} | " + " | ".join(cells) + " |")
        lines += ["", f"{metric.label}: mean ± standard error over the scenarios (feasible answers / scenarios).", ""]
    return "\n".join(lines)


def _fmt(x: float, metric: Metric) -> str:
    return f"{x:.3g}" if metric.scale == "log" else f"{x:.2f}"


def learning_curves(curves: list[Curve], path: Path) -> str:
    """Learning curves of a ``train.py -m ... bench_every=N`` sweep (its runs' :class:`Curve` s): a panel per id, a
    line per algorithm (mean over seeds of ``eval/score``, the band its range; dashed, the mean ``eval/ratio`` where
    every run logged it). Returns the markdown table of the final evaluation per id and algorithm (mean and range
    over seeds of ``eval/score``, mean of ``eval/feasible`` and of ``eval/ratio`` where the runs logged it, steps,
    training wall time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, dict[str, list[Curve]]] = {}
    for c in curves:
        runs.setdefault(c.env_id, {}).setdefault(c.algo, []).append(c)
    if not runs:
        raise ValueError("no learning curve to draw (train with bench_every=N)")
    ids = list(dict.fromkeys(i for i in (*protocol.IDS, *sorted(runs)) if i in runs))
    cols = min(3, len(ids))
    rows_n = -(-len(ids) // cols)
    f, axes = plt.subplots(rows_n, cols, figsize=(4.4 * cols, 3.2 * rows_n), dpi=100, squeeze=False)
    table = ["| id | algorithm | seeds | steps | final score (0 random, 1 oracle) | feasible | objective ratio | "
             "train time / seed |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for ax, env_id in zip(axes.flat, ids, strict=False):
        for algo, group in sorted(runs[env_id].items()):
            steps = sorted({s for r in group for s, _ in r.score})
            grid = np.array([[dict(r.score).get(s, np.nan) for s in steps] for r in group])
            (line,) = ax.plot(steps, np.nanmean(grid, axis=0), label=algo)
            ax.fill_between(steps, np.nanmin(grid, axis=0), np.nanmax(grid, axis=0), alpha=0.15)
            if all(r.ratio for r in group):  # progress on the objective alone, where the runs logged it
                ratio = np.array([[dict(r.ratio).get(s, np.nan) for s in steps] for r in group])
                ax.plot(steps, np.nanmean(ratio, axis=0), ls="--", color=line.get_color(), label=f"{algo} (ratio)")
            final = grid[:, -1]
            feas = np.mean([r.feasible[-1][1] for r in group])
            ratios = [r.ratio[-1][1] for r in group if r.ratio]
            ratio = f"{np.mean(ratios):.2f}" if ratios else "n/a"
            table.append(f"| {env_id} | {algo} | {len(group)} | {steps[-1]} | {np.nanmean(final):.2f} "
                         f"({np.nanmin(final):.2f}..{np.nanmax(final):.2f}) | {100 * feas:.0f} % | {ratio} | "
                         f"{np.mean([r.wall_s for r in group]) / 60:.1f} min |")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.set_title(env_id, fontsize=9)
        ax.set_xlabel("steps")
        ax.set_ylabel("eval/score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(ids):]:
        ax.axis("off")
    f.suptitle("Learned agents: ISAC-Bench score during training (0 random, 1 oracle; infeasible scores 0);\n"
               "dashed: the objective ratio (feasibility ignored), where the runs logged it", fontsize=9)
    f.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    f.savefig(path)
    plt.close(f)
    return "\n".join(table)
