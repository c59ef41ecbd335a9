"""Speed benchmarks (``python -m benchmarks``); figures are ratios measured in one process run."""
