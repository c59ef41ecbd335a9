"""The training side of ISAC-Bench (:class:`isac_gym.bench.trained.TrainingTools`): trained SB3 models of
``train.py`` runs and the learning curves of its sweeps, for ``python -m isac_gym.bench run --checkpoint``,
``figures --agent`` and ``figures --runs``. Installed as the ``isac_gym.bench`` entry point named ``training``
(pyproject.toml), so the bench finds it from any directory."""

from __future__ import annotations

from pathlib import Path

from isac_gym.bench.trained import Curve, TrainedModel, TrainingTools

from .runs import open_run


def open_model(path: str) -> TrainedModel:
    """A run directory or model file of ``train.py`` as a :class:`TrainedModel` (its saved env, SB3 loading)."""
    run = open_run(path)

    def load(env):
        from .evaluation import CheckpointPolicy

        return CheckpointPolicy(run.model, env)

    return TrainedModel(str(run.model), run.algo, run.env, load)


def read_curves(sweep_dir: Path) -> list[Curve]:
    """The ISAC-Bench learning curve of every run of a ``train.py -m ... bench_every=N`` sweep that ended (wrote its
    ``metrics.json``) and logged ``eval/score``."""
    from .sweep import gather, scalars

    curves = []
    for row in gather(Path(sweep_dir)):
        tags = scalars(Path(sweep_dir) / row["job"] / "tb", ("eval/score", "eval/feasible", "eval/ratio"))
        if tags["eval/score"]:
            curves.append(Curve(row["env"], row["agent"], float(row["wall_s"]), tags["eval/score"],
                                tags["eval/feasible"], tags["eval/ratio"]))
    return curves


TOOLS = TrainingTools(open_model=open_model, read_curves=read_curves)
