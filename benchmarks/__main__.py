"""``python -m benchmarks [options]``: throughput, speed-ups, memory and oracle runtimes (benchmarks/run.py);
``python -m benchmarks soak [options]``: memory over long runs of every id (benchmarks/soak.py);
``python -m benchmarks learn [options]``: TD3 learnability per id (benchmarks/learn.py)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "soak":
    from benchmarks.soak import main as soak

    soak(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "learn":
    from benchmarks.learn import main as learn

    learn(sys.argv[2:])
else:
    from benchmarks.run import main

    main()
