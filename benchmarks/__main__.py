"""``python -m benchmarks [options]``: throughput, speed-ups, memory and oracle runtimes (benchmarks/run.py);
``python -m benchmarks soak [options]``: memory over long runs of every id (benchmarks/soak.py)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "soak":
    from benchmarks.soak import main as soak

    soak(sys.argv[2:])
else:
    from benchmarks.run import main

    main()
