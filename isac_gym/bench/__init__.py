"""ISAC-Bench: every id, fixed evaluation scenarios, one normalised score (docs/benchmark.md).

``python -m isac_gym.bench run`` evaluates oracles, baselines and trained checkpoints on the evaluation seeds and
writes one results file per policy; ``score`` prints the table of any results files (another paper's agent
included: :mod:`isac_gym.bench.results` gives the schema); ``validate`` checks files against the schema.
Importing this package imports no solver or learning library; the oracles are loaded when anchors are computed, and
trained models and learning curves come from the training tools (:mod:`isac_gym.bench.trained`).
"""

from .protocol import (
    EVAL_SEEDS,
    RANDOM_DRAWS,
    Answer,
    Episode,
    Reference,
    ReferenceStore,
    Summary,
    evaluate_policy,
    summarise,
    training_seed,
)
from .results import SCHEMA, Results, load, save, validate

__all__ = ["EVAL_SEEDS", "RANDOM_DRAWS", "SCHEMA", "Answer", "Episode", "Reference", "ReferenceStore", "Results",
           "Summary", "evaluate_policy", "load", "save", "summarise", "training_seed", "validate"]
