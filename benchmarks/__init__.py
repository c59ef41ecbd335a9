"""Speed benchmarks (``python -m benchmarks``); figures are ratios measured in one process run."""

import json


def save_report(path: str | None, report: dict | list) -> None:
    """Write a benchmark's figures to ``path`` as JSON (nothing when ``path`` is None)."""
    if path:
        with open(path, "w") as fh:
            json.dump(report, fh, indent=2)
