#!/usr/bin/env python3
"""Runs Kernel Tuner's strategies on an exhaustive cache that nkitune exported, in Kernel Tuner's
simulation mode, and writes each run's trace: the latencies (ms) of the distinct valid
configurations in the order the strategy first measured them. A strategy that raises is listed
under "failures" with its error, and the others go on.

    kt_strategies.py CACHE.json --strategies random_sample,pso --seeds 25 --max-fevals 500 --out T.json

Part of nkitune's strategy benchmark (README.md, Benchmarks); needs kernel_tuner 1.5.
"""
import argparse
import json
import logging
import random
import sys
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache")
    parser.add_argument("--strategies", required=True)
    parser.add_argument("--seeds", type=int, default=25)
    parser.add_argument("--max-fevals", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import kernel_tuner
    except ImportError as error:
        sys.exit(f"kt_strategies.py: kernel_tuner is not importable ({error}); run .ci/run or pip install kernel_tuner==1.5")
    logging.disable(logging.WARNING)
    # Kernel Tuner parses the whole cache twice per run (seconds for a large space); parse it once
    # and hand each run its own copy of the index (its simulation runner copies an entry before use).
    from kernel_tuner import util

    parsed = util.read_cache(args.cache, open_cache=False)

    def read_cache(path, open_cache=True):
        if path != args.cache or open_cache:
            raise ValueError(f"kt_strategies.py: unexpected cache read of {path}")
        return {**parsed, "cache": dict(parsed["cache"])}

    util.read_cache = read_cache
    keys = parsed["tune_params_keys"]
    traces = {}
    failures = {}
    for strategy in args.strategies.split(","):
        runs = []
        started = time.time()
        for seed in range(1, args.seeds + 1):
            random.seed(seed)
            np.random.seed(seed)
            try:
                results, _ = kernel_tuner.tune_cache(
                    args.cache, strategy=strategy, strategy_options={"max_fevals": args.max_fevals},
                    verbose=False, quiet=True)
            except Exception as error:  # a strategy that fails is reported beside the traces, not hidden
                failures[strategy] = f"seed {seed}: {type(error).__name__}: {error}"
                print(f"  kernel_tuner {strategy} failed on seed {seed}: {failures[strategy]}", file=sys.stderr)
                break
            seen = set()
            trace = []
            for result in results:
                key = tuple(result[name] for name in keys)
                value = result.get("time")
                if key in seen or not isinstance(value, (int, float)):
                    continue
                seen.add(key)
                trace.append(float(value))
            runs.append(trace)
        if strategy in failures:
            continue
        traces[strategy] = runs
        print(f"  kernel_tuner {strategy}: {args.seeds} runs in {time.time() - started:.1f} s", file=sys.stderr)
    with open(args.out, "w") as handle:
        json.dump({"traces": traces, "failures": failures}, handle)


if __name__ == "__main__":
    main()
