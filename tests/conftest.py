"""Settings of the whole test session."""

import os

# The two xdist workers share two cores. A torch or BLAS thread pool per worker, each spinning on cores the other
# holds, made the small training runs many times slower; one thread each (inherited by the scripts run as
# subprocesses) keeps them at their single-core speed.
os.environ.setdefault("OMP_NUM_THREADS", "1")
