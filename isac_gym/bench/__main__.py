"""``python -m isac_gym.bench {run,score,validate}``: see docs/benchmark.md.

* ``run [--ids ID ...] [--policies all | NAME ...] [--checkpoint NAME=PATH ...] [--episodes N | --seeds S ...]
  [--env-kwargs KEY=VALUE ...] [--out DIR]``: evaluates each policy of each id on the evaluation scenarios,
  writes ``DIR/results/<setting>/<policy>.json`` (the results schema) and the anchors
  ``DIR/references/<setting>.json`` (``<setting>``: the id, and a hash of the kwargs when given),
  then prints the table. Finished episodes and anchors are kept: rerunning resumes.
* ``score FILE ... [--references DIR]``: validates results files (anyone's), computes the anchors they need
  (cached under ``DIR/references``) and prints the table.
* ``validate FILE ...``: checks files against the schema; exits 1 with the first bad field of each bad file.
* ``figures [--only NAME ...] [--seeds N] [--points K] [--agent PATH ...] [--runs DIR ...] [--out DIR] [--work DIR]``:
  each paper's comparisons (:data:`~isac_gym.bench.figures.FIGURES`) as PNGs and ``figures.md`` in ``--out``
  (default ``docs/figures``), on the first N evaluation scenarios (default 3) and the first K points of each sweep
  (default all); measured points are kept under ``--work`` (default ``bench_results/figures``): rerunning
  resumes. ``--agent`` adds a trained model (its run's saved config names the id and action mode) to the
  figures of its id; ``--runs`` draws the learning curves of each ``train.py -m ... bench_every=N`` sweep
  (``learning_curves_<folder name>.png``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import protocol
from .results import Results, load, save

IDS = protocol.IDS


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_kwargs(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each VALUE read as JSON when it parses (numbers, booleans, lists) and as text otherwise."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-kwargs entries must be KEY=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


def setting_tag(env_id: str, env_kwargs: dict[str, Any]) -> str:
    """The id, and a short hash of the kwargs when there are any: the name of a setting's files."""
    if not env_kwargs:
        return env_id
    return f"{env_id}-{hashlib.sha1(json.dumps(env_kwargs, sort_keys=True).encode()).hexdigest()[:8]}"


def reference_path(out: Path, env_id: str, env_kwargs: dict[str, Any]) -> Path:
    """Where the anchors of a setting are cached."""
    return out / "references" / f"{setting_tag(env_id, env_kwargs)}.json"


def _bar(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with the [train] extra; without it, no bar
        return None
    return tqdm(total=total, desc=desc, leave=False)


def _tick(bar, text: str = "") -> None:
    if bar is not None:
        bar.set_postfix_str(text)
        bar.update(1)


def references_for(out: Path, env_id: str, env_kwargs: dict[str, Any], seeds: list[int]) -> dict[int, Any]:
    env_kwargs = protocol.canonical_kwargs(env_id, env_kwargs)
    store = protocol.ReferenceStore(env_id, env_kwargs, reference_path(out, env_id, env_kwargs))
    bar = _bar(len(seeds), f"{env_id} anchors")
    refs = store.get(seeds, progress=lambda s: _tick(bar, f"seed {s}"))
    if bar is not None:
        bar.close()
    return refs


class _Keeper:
    """Saves the results file after every new episode, so that an interrupted run resumes where it stopped."""

    def __init__(self, results: Results, path: Path, bar):
        self.results, self.path, self.bar = results, path, bar

    def __call__(self, episode: protocol.Episode) -> None:
        self.results = replace(self.results, episodes=self.results.episodes + (episode,))
        save(self.results, self.path)
        _tick(self.bar, f"seed {episode.seed}")


def _policy(env, name: str, checkpoints: dict[str, str]):
    if name in checkpoints:
        return protocol.checkpoint_policy_class()(checkpoints[name], env), "agent"
    from isac_gym import oracles

    if name == "random":  # acts in the env's own action mode, like any agent
        return oracles.make(env, "random", seed=0), "agent"
    return oracles.make(env, name), "solver"


def run(args: argparse.Namespace) -> list[tuple[Results, dict]]:
    from isac_gym import oracles

    out = Path(args.out)
    given = parse_kwargs(args.env_kwargs)
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    seeds = list(args.seeds) if args.seeds else list(protocol.EVAL_SEEDS[: args.episodes])
    rows = []
    for env_id in args.ids:
        env_kwargs = protocol.canonical_kwargs(env_id, given)
        env = protocol.make_env(env_id, env_kwargs)
        available = oracles.names(env)
        names = (available if args.policies == ["all"] else list(args.policies)) + list(checkpoints)
        unknown = [n for n in names if n not in available and n not in checkpoints]
        if unknown:
            raise ValueError(f"--policies for {env_id} must be among {available} (or 'all'), got {unknown}")
        refs = references_for(out, env_id, env_kwargs, seeds)
        for name in dict.fromkeys(names):
            path = out / "results" / setting_tag(env_id, env_kwargs) / f"{name}.json"
            done = {e.seed: e for e in load(path).episodes} if path.is_file() else {}
            policy, kind = _policy(env, name, checkpoints)
            bar = _bar(len(seeds), f"{env_id} {name}")
            keep = _Keeper(Results(env_id, name, kind, tuple(done.values()), env_kwargs), path, bar)
            eps = protocol.evaluate_policy(env, policy, seeds, solve=kind == "solver", done=done, progress=keep)
            if bar is not None:
                bar.close()
            results = Results(env_id, name, kind, tuple(eps), env_kwargs)
            save(results, path)
            rows.append((results, refs))
        env.close()
    return rows


def table(rows: list[tuple[Results, dict]]) -> str:
    """Markdown table: per id and policy, the mean normalised score (± standard error), the feasibility rate, the
    objective ratio (the score with feasibility ignored), the decision time per scenario and the number of
    scenarios."""
    lines = ["| id | policy | kind | scenarios | score (0 random, 1 oracle) | feasible | objective ratio | decision time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res, refs in rows:
        s = protocol.summarise(list(res.episodes), refs)
        lines.append(f"| {res.env_id} | {res.policy} | {res.kind} | {s.episodes} | {s.score:.3f} ± {s.score_sem:.3f} | "
                     f"{100 * s.feasible:.0f} % | {s.ratio:.3f} | {_seconds(s.decision_s)} |")
    return "\n".join(lines)


def _seconds(x: float) -> str:
    return f"{1e3 * x:.1f} ms" if x < 1.0 else f"{x:.2f} s"


def score(args: argparse.Namespace) -> list[tuple[Results, dict]]:
    out = Path(args.references)
    rows = []
    for f in args.files:
        res = load(f)
        refs = references_for(out, res.env_id, res.env_kwargs, [e.seed for e in res.episodes])
        rows.append((res, refs))
    return rows


def agent_from_run(path: str) -> Any:
    """A trained model as a figure series: the id and action mode from its run's ``.hydra/config.yaml``."""
    from omegaconf import OmegaConf

    from .figures import Agent

    model = Path(path)
    cfg_path = model.parent / ".hydra" / "config.yaml"
    if not model.is_file() or not cfg_path.is_file():
        raise ValueError(f"--agent must be a model.zip inside a train.py run directory, got {path}")
    cfg = OmegaConf.load(cfg_path)
    kwargs = OmegaConf.to_container(cfg.env.kwargs, resolve=True) or {}
    mode = (("action_mode", kwargs["action_mode"]),) if "action_mode" in kwargs else ()
    return Agent(f"agent ({cfg.agent.algo})", cfg.env.id, str(model), mode)


def figures(args: argparse.Namespace) -> str:
    from . import figures as F

    if args.seeds < 1 or (args.points is not None and args.points < 1):
        raise ValueError(f"--seeds and --points must be >= 1, got {args.seeds} and {args.points}")
    names = [f.name for f in F.FIGURES]
    unknown = [n for n in args.only or [] if n not in names]
    if unknown:
        raise ValueError(f"--only must be among {names}, got {unknown}")
    agents = tuple(agent_from_run(p) for p in args.agent)
    out, work = Path(args.out), Path(args.work)
    seeds = protocol.EVAL_SEEDS[: args.seeds]
    sections = ["# ISAC-Bench figures", "", f"Scenarios: `reset(seed=s)` for s = {seeds[0]}..{seeds[-1]}.", ""]
    for fig in F.FIGURES:
        if args.only and fig.name not in args.only:
            continue
        points = fig.points[: args.points]
        n_lines = len(fig.series) + sum(a.env_id == fig.env_id for a in agents)
        bar = _bar(len(points) * len(seeds) * n_lines, fig.name)
        data = F.compute(fig, seeds, F.PointStore(work / f"{fig.name}.json"), agents, points,
                         progress=lambda text, bar=bar: _tick(bar, text))
        if bar is not None:
            bar.close()
        xs = [x for x, _ in points]
        F.plot(fig, data, xs, out / f"{fig.name}.png")
        sections.append(F.markdown(fig, data, xs, f"{fig.name}.png"))
    for runs in args.runs:
        image = f"learning_curves_{Path(runs).name}.png"
        table = F.learning_curves(Path(runs), out / image)
        sections += [f"### Learned agents: {Path(runs).name}", "", f"Runs: `{runs}`.", "",
                     f"![learning curves]({image})", "", table, ""]
    (out / "figures.md").parent.mkdir(parents=True, exist_ok=True)
    (out / "figures.md").write_text("\n".join(sections))
    return f"figures and tables written to {out}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m isac_gym.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="evaluate oracles, baselines and checkpoints on the evaluation scenarios")
    p_run.add_argument("--ids", nargs="+", default=list(IDS), choices=IDS, metavar="ID")
    p_run.add_argument("--policies", nargs="+", default=["all"], help="oracle and baseline names, or 'all'")
    p_run.add_argument("--checkpoint", nargs="*", default=[], metavar="NAME=PATH",
                       help="trained SB3 models to evaluate, each under its own name")
    p_run.add_argument("--episodes", type=int, default=len(protocol.EVAL_SEEDS),
                       help="the first N evaluation seeds (default: all 100)")
    p_run.add_argument("--seeds", nargs="+", type=int, default=None, help="explicit seeds instead of --episodes")
    p_run.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=VALUE")
    p_run.add_argument("--out", default="bench_results")
    p_score = sub.add_parser("score", help="score results files (validated) against the anchors")
    p_score.add_argument("files", nargs="+")
    p_score.add_argument("--references", default="bench_results", help="folder of the cached anchors")
    p_val = sub.add_parser("validate", help="check results files against the schema")
    p_val.add_argument("files", nargs="+")
    p_fig = sub.add_parser("figures", help="each paper's comparisons as PNG figures and markdown tables")
    p_fig.add_argument("--only", nargs="+", default=None, metavar="NAME", help="figure names (default: all)")
    p_fig.add_argument("--seeds", type=int, default=3, help="evaluation scenarios per point (default 3)")
    p_fig.add_argument("--points", type=int, default=None, help="the first K points of each sweep (default all)")
    p_fig.add_argument("--agent", nargs="*", default=[], metavar="PATH", help="model.zip files of train.py runs")
    p_fig.add_argument("--runs", nargs="*", default=[], metavar="DIR",
                       help="train.py sweep directories (learning curves, one PNG each)")
    p_fig.add_argument("--out", default="docs/figures")
    p_fig.add_argument("--work", default="bench_results/figures", help="where measured points are kept")
    args = parser.parse_args(argv)
    try:
        if args.command == "figures":
            print(figures(args))
            return 0
        if args.command == "validate":
            bad = 0
            for f in args.files:
                try:
                    load(f)
                    print(f"{f}: ok")
                except ValueError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    bad += 1
            return 1 if bad else 0
        if args.command == "run" and args.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
        rows = run(args) if args.command == "run" else score(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
