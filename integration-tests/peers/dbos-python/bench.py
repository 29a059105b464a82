"""The peer of Slate's engine benchmark on DBOS Transact's Python SDK: a workflow of five no-op
steps, run alone (latency from start to result, after untimed warm-up runs) and in a burst
(runs/s), against the database at DATABASE_URL. `make bench` runs it in the git-ignored .venv. Prints one JSON line of figures."""

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from dbos import DBOS


@DBOS.step()
def step(value: int) -> int:
    return value


@DBOS.workflow()
def five_steps(n: int) -> int:
    value = n
    for _ in range(5):
        value = step(value)
    return value


def percentile(values, q):
    ordered = sorted(values)
    return ordered[round((len(ordered) - 1) * q)]


def main():
    burst = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    lone = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    warm_up = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    DBOS(config={"name": "slate-peer-bench", "system_database_url": os.environ["DATABASE_URL"]})
    DBOS.launch()

    for n in range(warm_up):
        five_steps(n)
    latencies = []
    for n in range(lone):
        began = time.perf_counter()
        five_steps(n)
        latencies.append((time.perf_counter() - began) * 1000)

    def timed(n):
        started = time.perf_counter()
        DBOS.start_workflow(five_steps, n).get_result()
        return (time.perf_counter() - started) * 1000

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        burst_latencies = list(pool.map(timed, range(burst)))
    elapsed = time.perf_counter() - began
    print(json.dumps({
        "runs_per_second": burst / elapsed,
        "burst_p50_ms": percentile(burst_latencies, 0.5),
        "burst_p99_ms": percentile(burst_latencies, 0.99),
        "lone_p50_ms": percentile(latencies, 0.5),
        "lone_p99_ms": percentile(latencies, 0.99),
    }))
    DBOS.destroy()


if __name__ == "__main__":
    main()
