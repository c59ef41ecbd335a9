"""``python -m isac_gym.bench {run,score,validate,figures}``: see docs/benchmark.md.

* ``run [--ids ID ...] [--policies all | NAME ...] [--checkpoint NAME=PATH ...] [--episodes N | --seeds S ...]
  [--env-kwargs KEY=VALUE ...] [--out DIR]``: evaluates each policy of each id on the evaluation scenarios,
  writes ``DIR/results/<setting>/<policy>.json`` (the results schema) and the anchors
  ``DIR/references/<setting>.json`` (``<setting>``: the id, and a hash of the problem kwargs when they differ from
  the defaults), then prints the table. A checkpoint (a ``train.py`` run directory or model file) acts in the env
  its run saved (id, every kwarg, ``max_episode_steps``) with ``--env-kwargs`` on top; another id or action mode is
  refused. Finished episodes and anchors are kept: rerunning resumes.
* ``score FILE ... [--references DIR]``: validates results files (anyone's), computes the anchors they need
  (cached under ``DIR/references``) and prints the table.
* ``validate FILE ...``: checks files against the schema; exits 1 with the first bad field of each bad file.
* ``figures [--only NAME ...] [--seeds N] [--points K] [--agent PATH ...] [--runs DIR ...] [--out DIR] [--work DIR]``:
  each paper's comparisons (:data:`~isac_gym.bench.figures.FIGURES`) as PNGs and ``figures.md`` in ``--out``
  (default ``bench_results/figures``; ``--out docs/figures`` refreshes the docs on purpose),
  on the first N evaluation scenarios (default 3) and the first K points of each sweep
  (default all); measured points are kept under ``--work`` (default ``bench_results/figures``): rerunning
  resumes. ``--agent`` adds a trained model (a run directory or model file; its run's saved env) to the figures of
  its id; ``--runs`` draws the learning curves of each ``train.py -m ... bench_every=N`` sweep
  (``learning_curves_<folder name>.png``).

Trained models and learning curves come from the training tools (:mod:`isac_gym.bench.trained`), found as an
installed entry point; without them ``--checkpoint``, ``--agent`` and ``--runs`` are refused in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import protocol
from .results import Results, load, save
from .trained import TrainingTools, agent_env, load_tools

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


def require_tools(tools: TrainingTools | None, flag: str) -> TrainingTools:
    """The training tools, or a one-line ``ValueError`` saying that ``flag`` needs them."""
    if tools is None:
        raise ValueError(f"{flag} needs the training tools (the isac_gym.bench entry point 'training', installed with "
                         "pip install -e \".[train]\" from the repository)")
    return tools


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
    env_kwargs = protocol.problem_kwargs(env_id, env_kwargs)
    store = protocol.ReferenceStore(env_id, env_kwargs, protocol.reference_path(out, env_id, env_kwargs))
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


def _evaluate(out: Path, env, env_id: str, env_kwargs: dict, name: str, policy, kind: str, seeds: list[int],
              checkpoint: str | None = None) -> Results:
    """One policy on one setting, resuming from its results file and saving after every episode. The file records
    the action mode the policy acted in and the checkpoint it was loaded from; resuming a file made under other
    kwargs, another mode (a default that changed) or another model is refused rather than mixed."""
    path = out / "results" / protocol.setting_tag(env_id, env_kwargs) / f"{name}.json"
    meta = {"action_mode": env.unwrapped.system.options.action_mode}
    if checkpoint is not None:
        meta["checkpoint"] = str(Path(checkpoint).resolve())
    done = {}
    if path.is_file():
        old = load(path)
        if old.env_kwargs != env_kwargs or {k: old.meta.get(k) for k in meta} != meta:
            raise ValueError(f"{path} holds {name} with {old.env_kwargs} {old.meta}, not {env_kwargs} {meta}: remove it "
                             "or give another --out")
        done = {e.seed: e for e in old.episodes}
    bar = _bar(len(seeds), f"{env_id} {name}")
    keep = _Keeper(Results(env_id, name, kind, tuple(done.values()), env_kwargs, meta), path, bar)
    eps = protocol.evaluate_policy(env, policy, seeds, solve=kind == "solver", done=done, progress=keep)
    if bar is not None:
        bar.close()
    results = Results(env_id, name, kind, tuple(eps), env_kwargs, meta)
    save(results, path)
    return results


def run(args: argparse.Namespace, tools: TrainingTools | None = None) -> list[tuple[Results, dict]]:
    from isac_gym import oracles

    out = Path(args.out)
    given = parse_kwargs(args.env_kwargs)
    ids = list(args.ids or IDS)
    models = {}
    for item in args.checkpoint:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--checkpoint entries must be NAME=PATH, got {item!r}")
        models[name] = require_tools(tools, "--checkpoint").open_model(path)
        if args.ids and models[name].env.env_id not in ids:
            raise ValueError(f"checkpoint {name} was trained on {models[name].env.env_id}, which --ids leaves out")
    seeds = list(args.seeds) if args.seeds else list(protocol.EVAL_SEEDS[: args.episodes])
    rows = []
    for env_id in ids:
        env_kwargs = protocol.canonical_kwargs(env_id, given)
        mine = {n: m for n, m in models.items() if m.env.env_id == env_id}
        if args.policies == ["none"] and not mine:
            continue
        env = protocol.make_env(env_id, env_kwargs)
        available = oracles.names(env)
        names = [] if args.policies == ["none"] else available if args.policies == ["all"] else list(args.policies)
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"--policies for {env_id} must be among {available} (or 'all', 'none'), got {unknown}")
        if names:
            refs = references_for(out, env_id, env_kwargs, seeds)
        for name in dict.fromkeys(names):
            policy, kind = protocol.policy_for(env, name)
            rows.append((_evaluate(out, env, env_id, env_kwargs, name, policy, kind, seeds), refs))
        env.close()
        for name, model in mine.items():  # each in the env its run saved, with --env-kwargs on top
            saved = agent_env(model, env_id, given)
            agent_kwargs = protocol.canonical_kwargs(env_id, saved.kwargs)
            env = protocol.make_env(env_id, saved.kwargs, saved.max_episode_steps)
            results = _evaluate(out, env, env_id, agent_kwargs, name, model.load(env), "agent", seeds, model.path)
            rows.append((results, references_for(out, env_id, agent_kwargs, seeds)))
            env.close()
    return rows


def table(rows: list[tuple[Results, dict]]) -> str:
    """Markdown table: per id and policy, the mean normalised score (± standard error), the feasibility rate, the
    objective ratio (the score with feasibility ignored), the final configurations' mean cost (``info["cost"]``; "–"
    where a results file does not give it), the decision time per scenario and the number of scenarios."""
    lines = ["| id | policy | kind | scenarios | score (0 random, 1 oracle) | feasible | objective ratio | cost | "
             "decision time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res, refs in rows:
        s = protocol.summarise(list(res.episodes), refs)
        cost = "–" if s.cost is None else f"{s.cost:.3g}"
        lines.append(f"| {res.env_id} | {res.policy} | {res.kind} | {s.episodes} | {s.score:.3f} ± {s.score_sem:.3f} | "
                     f"{100 * s.feasible:.0f} % | {s.ratio:.3f} | {cost} | {_seconds(s.decision_s)} |")
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


def figures(args: argparse.Namespace, tools: TrainingTools | None = None) -> str:
    from . import figures as F

    if args.seeds < 1 or (args.points is not None and args.points < 1):
        raise ValueError(f"--seeds and --points must be >= 1, got {args.seeds} and {args.points}")
    names = [f.name for f in F.FIGURES]
    unknown = [n for n in args.only or [] if n not in names]
    if unknown:
        raise ValueError(f"--only must be among {names}, got {unknown}")
    agents = tuple(require_tools(tools, "--agent").open_model(p) for p in args.agent)
    curves = [(runs, require_tools(tools, "--runs").read_curves(Path(runs))) for runs in args.runs]
    out, work = Path(args.out), Path(args.work)
    seeds = protocol.EVAL_SEEDS[: args.seeds]
    sections = ["# ISAC-Bench figures", "", f"Scenarios: `reset(seed=s)` for s = {seeds[0]}..{seeds[-1]}.", ""]
    for fig in F.FIGURES:
        if args.only and fig.name not in args.only:
            continue
        points = fig.points[: args.points]
        n_lines = len(fig.series) + sum(a.env.env_id == fig.env_id for a in agents)
        bar = _bar(len(points) * len(seeds) * n_lines, fig.name)
        data = F.compute(fig, seeds, F.PointStore(work / f"{fig.name}.json"), agents, points,
                         progress=lambda text, bar=bar: _tick(bar, text))
        if bar is not None:
            bar.close()
        xs = [x for x, _ in points]
        F.plot(fig, data, xs, out / f"{fig.name}.png")
        sections.append(F.markdown(fig, data, xs, f"{fig.name}.png"))
    for runs, found in curves:
        if not found:
            raise ValueError(f"no run with eval/score under {runs} (train with bench_every=N)")
        image = f"learning_curves_{Path(runs).name}.png"
        table = F.learning_curves(found, out / image)
        sections += [f"### Learned agents: {Path(runs).name}", "", f"Runs: `{runs}`.", "",
                     f"![learning curves]({image})", "", table, ""]
    (out / "figures.md").parent.mkdir(parents=True, exist_ok=True)
    (out / "figures.md").write_text("\n".join(sections))
    return f"figures and tables written to {out}"


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (every subcommand and its defaults)."""
    parser = argparse.ArgumentParser(prog="python -m isac_gym.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="evaluate oracles, baselines and checkpoints on the evaluation scenarios")
    p_run.add_argument("--ids", nargs="+", default=None, choices=IDS, metavar="ID", help="default: every id")
    p_run.add_argument("--policies", nargs="+", default=["all"],
                       help="oracle and baseline names, 'all', or 'none' (only the checkpoints)")
    p_run.add_argument("--checkpoint", nargs="*", default=[], metavar="NAME=PATH",
                       help="trained models (train.py run directories or model files), each under its own name")
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
    p_fig.add_argument("--agent", nargs="*", default=[], metavar="PATH",
                       help="train.py run directories or model files")
    p_fig.add_argument("--runs", nargs="*", default=[], metavar="DIR",
                       help="train.py sweep directories (learning curves, one PNG each)")
    p_fig.add_argument("--out", default="bench_results/figures",
                       help="where the PNGs and figures.md go (docs/figures refreshes the docs)")
    p_fig.add_argument("--work", default="bench_results/figures", help="where measured points are kept")
    return parser


def main(argv: list[str] | None = None, tools: TrainingTools | None = None) -> int:
    """The command line; ``tools``: the training tools (default: the installed entry point, when a command needs
    them)."""
    args = build_parser().parse_args(argv)
    if tools is None and (getattr(args, "checkpoint", None) or getattr(args, "agent", None) or getattr(args, "runs", None)):
        tools = load_tools()
    try:
        if args.command == "figures":
            print(figures(args, tools))
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
        rows = run(args, tools) if args.command == "run" else score(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
