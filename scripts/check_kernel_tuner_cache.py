"""Reads a cache file written by `nkitune cache export-kt` with Kernel Tuner's own reader, then
replays it in Kernel Tuner's simulation mode. Prints one line of counts; exits 1 on a problem.

Usage: python check_kernel_tuner_cache.py FILE  (with kernel_tuner installed)
"""
import shutil
import sys
import tempfile
import warnings

from kernel_tuner import tune_kernel
from kernel_tuner.util import ErrorConfig, read_cache


def main(path):
    data = read_cache(path, open_cache=False)
    entries = data["cache"]
    keys = data["tune_params_keys"]
    problems = []
    if list(data["tune_params"].keys()) != keys:
        problems.append("tune_params are not in tune_params_keys order")
    errors = {}
    for key, entry in entries.items():
        if key != ",".join(str(entry[name]) for name in keys):
            problems.append(f"key {key} does not spell its values")
        if "__error__" in entry:
            if not isinstance(entry["__error__"], ErrorConfig):
                problems.append(f"{key}: error {entry['__error__']!r} not understood")
            name = type(entry["__error__"]).__name__
            errors[name] = errors.get(name, 0) + 1
        elif not isinstance(entry["time"], float):
            problems.append(f"{key}: time {entry['time']!r} is not a number")
    size = 1
    for values in data["tune_params"].values():
        size *= len(values)
    if len(entries) < size:
        if problems:
            print("\n".join(problems[:10]))
            return 1
        print(f"ok: {len(entries)} entries, errors {describe(errors)}; not replayed: "
              f"{size - len(entries)} of {size} configurations were never measured")
        return 0
    # Replay on a copy: simulation mode reopens the file.
    with tempfile.TemporaryDirectory() as directory:
        copy = directory + "/cache.json"
        shutil.copy(path, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results, _ = tune_kernel(
                data["kernel_name"], "", tuple(data["problem_size"]), [], data["tune_params"], simulation_mode=True,
                cache=copy, strategy="random_sample", strategy_options={"max_fevals": 10}, quiet=True, lang="C")
    if not results:
        problems.append("the simulation replayed nothing")
    if problems:
        print("\n".join(problems[:10]))
        return 1
    print(f"ok: {len(entries)} entries, errors {describe(errors)}, replayed {len(results)}")
    return 0


def describe(errors):
    return ",".join(f"{name}={count}" for name, count in sorted(errors.items())) or "none"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
