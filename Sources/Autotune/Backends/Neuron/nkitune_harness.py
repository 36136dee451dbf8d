#!/usr/bin/env python3
"""nkitune's Neuron harness: compiles one emitted NKI kernel to a NEFF, times it on the NeuronCore
the environment pins (NEURON_RT_VISIBLE_CORES), checks its outputs against the reference outputs
nkitune wrote, and reports JSON.

    nkitune_harness.py probe --out RESULT.json [--dry-run]
    nkitune_harness.py compile JOB.json --out RESULT.json [--dry-run]
    nkitune_harness.py run JOB.json --neff FILE --out RESULT.json [--dry-run] [--outputs-from DIR]
    nkitune_harness.py profile JOB.json --neff FILE --out RESULT.json [--dry-run]
    nkitune_harness.py health --out RESULT.json [--dry-run]

nkitune writes this file out at run time and runs it with the Neuron environment's interpreter.
`--dry-run` does everything up to importing NKI (arguments, the job, the inputs, the comparison,
the result) so it can be tested where there is no Trainium. Exit status: 0 when a result was
written (whatever it says), 2 for bad arguments or a bad job file, 3 when NKI or numpy is missing.
"""
import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback

HARNESS_VERSION = 1
JOB_FORMAT = 1
MISSING = 3
BAD_INPUT = 2
TAIL = 4000


class HarnessError(Exception):
    """A bad job or argument: one line, exit status 2."""


def write_result(path, result):
    result.setdefault("harness", HARNESS_VERSION)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(result, handle)
    os.replace(temporary, path)


def tail(text):
    return text[-TAIL:]


# Versions --------------------------------------------------------------------------------------

DISTRIBUTIONS = ["neuronx-cc", "nki", "nkipy", "neuronpy", "libneuronxla", "torch-neuronx", "numpy", "ml_dtypes"]


def versions():
    found = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def missing_nki():
    """The modules the Beta 2 adapter needs that are not importable, with why."""
    missing = []
    for module in ["nki", "neuronxcc.nki_standalone", "nkipy.runtime"]:
        try:
            if importlib.util.find_spec(module) is None:
                missing.append(f"{module} (not installed)")
        except (ImportError, ValueError) as error:
            missing.append(f"{module} ({error})")
    return missing


# Adapters: one per SDK generation, each naming the release it was written against ---------------


class Beta2Adapter:
    """NKI Beta 2, Neuron SDK 2.27 and later: `neuronxcc.nki_standalone` compiles a kernel function
    to a NEFF; nkipy's BaremetalExecutor loads it on the pinned NeuronCore and times it (the entry
    points AWS's nki-autotune uses with these releases)."""

    generation = "beta2 (SDK 2.27+)"

    def __init__(self):
        from neuronxcc.nki_standalone import NKI_IR_VERSION, compile_nki_ir_kernel_to_neff

        self.version = NKI_IR_VERSION.beta2
        self.compile_to_neff = compile_nki_ir_kernel_to_neff

    def compile(self, kernel, inputs, outputs, target, lnc, directory):
        os.environ["NEURON_PLATFORM_TARGET_OVERRIDE"] = target
        stubs = [TensorStub(output["shape"], numpy_dtype(output["dtype"]), output["name"]) for output in outputs]
        self.compile_to_neff(
            kernel_func=kernel,
            kernel_inputs_dict=inputs,
            kernel_outputs=stubs,
            platform_target=target,
            logical_nc_config=lnc,
            output_directory=directory,
            version=self.version,
            additional_compiler_args="",
        )
        neff = os.path.join(directory, "file.neff")
        if not os.path.exists(neff):
            raise RuntimeError(f"the compiler reported success but wrote no NEFF in {directory}")
        return neff

    def executor(self, neff, kernel, inputs, outputs):
        from nkipy.core.backend.hlo import HLOModule, HLOTensor
        from nkipy.runtime import BaremetalExecutor, CompiledKernel

        module = HLOModule(name=getattr(kernel, "__name__", "nkitune_kernel"))
        for name, array in inputs.items():
            module.add_parameter(array.shape, array.dtype, name=name)
        module.set_results(
            [HLOTensor(shape=tuple(o["shape"]), dtype=numpy_dtype(o["dtype"]), name=o["name"]) for o in outputs]
        )
        return BaremetalExecutor(verbose=0), CompiledKernel(TracedKernel(kernel, module), neff)

    def benchmark(self, neff, kernel, inputs, outputs, warmup, iterations):
        executor, compiled = self.executor(neff, kernel, inputs, outputs)
        with executor as spike:
            results = spike.run(compiled, *inputs.values())
            stats = spike.benchmark(
                compiled, *inputs.values(), warmup_iterations=warmup, benchmark_iterations=iterations, mode="device"
            )
        produced = [results] if not isinstance(results, (list, tuple)) else list(results)
        return [float(d) * 1e6 for d in stats.durations_ms], produced

    def health(self):
        from nkipy.runtime import BaremetalExecutor

        with BaremetalExecutor(verbose=0):
            pass


ADAPTERS = [Beta2Adapter]


def adapter():
    return ADAPTERS[-1]()


class TensorStub:
    """An output the compiler allocates: shape, dtype and name."""

    def __init__(self, shape, dtype, name):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name


class TracedKernel:
    """The kernel function and its signature, as nkipy's CompiledKernel expects."""

    def __init__(self, func, code):
        self.func = func
        self._code = code

    @property
    def __name__(self):
        return self.func.__name__


# Jobs ------------------------------------------------------------------------------------------


def numpy_dtype(name, dry_run=False):
    import numpy as np

    if name == "float32":
        return np.dtype(np.float32)
    if name == "int32":
        return np.dtype(np.int32)
    if name == "bfloat16":
        try:
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        except ImportError:
            if dry_run:
                return np.dtype(np.float32)
            raise HarnessError("bfloat16 needs the ml_dtypes package in the Neuron environment")
    raise HarnessError(f"unknown dtype {name!r} in the job")


def read_job(path):
    try:
        with open(path) as handle:
            job = json.load(handle)
    except (OSError, ValueError) as error:
        raise HarnessError(f"cannot read job {path}: {error}")
    if job.get("format") != JOB_FORMAT:
        raise HarnessError(f"job {path} has format {job.get('format')!r}; this harness reads {JOB_FORMAT}")
    for key in ["kernel_file", "function", "target", "lnc", "inputs", "outputs", "tolerance", "exact"]:
        if key not in job:
            raise HarnessError(f"job {path} has no {key!r}")
    base = os.path.dirname(os.path.abspath(path))
    job["kernel_file"] = os.path.join(base, job["kernel_file"])
    for entry in job["inputs"]:
        entry["file"] = os.path.join(base, entry["file"])
    for entry in job["outputs"]:
        entry["expected"] = os.path.join(base, entry["expected"])
    return job


def read_inputs(job, dry_run):
    import numpy as np

    inputs = {}
    for entry in job["inputs"]:
        try:
            array = np.load(entry["file"], allow_pickle=False)
        except (OSError, ValueError) as error:
            raise HarnessError(f"cannot read input {entry['name']} from {entry['file']}: {error}")
        inputs[entry["name"]] = np.ascontiguousarray(array.astype(numpy_dtype(entry["dtype"], dry_run)))
    return inputs


def load_kernel(path, function, cores=1):
    """The kernel function, launched on `cores` physical cores (`kernel[2]`, SPMD) when above 1."""
    spec = importlib.util.spec_from_file_location("nkitune_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kernel = getattr(module, function)
    return kernel[cores] if cores > 1 else kernel


def compare(job, produced):
    """Checks the kernel's outputs against the expected ones: integer outputs exactly, the others
    within the job's tolerance (largest difference over the largest reference magnitude), or bit
    for bit when the job says exact. Returns (passed, error, reason)."""
    import numpy as np

    worst = 0.0
    if len(produced) != len(job["outputs"]):
        return False, None, f"{len(produced)} outputs for {len(job['outputs'])} expected"
    for index, (entry, got) in enumerate(zip(job["outputs"], produced)):
        want = np.load(entry["expected"], allow_pickle=False)
        got = np.asarray(got)
        if tuple(got.shape) != tuple(want.shape):
            return False, None, f"output {entry['name']} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        got = got.astype(np.float64)
        want = want.astype(np.float64)
        if entry["dtype"] == "int32" or job["exact"]:
            different = np.flatnonzero(got.ravel() != want.ravel())
            if different.size:
                kind = "bit for bit" if job["exact"] else "exactly"
                return False, None, f"output {entry['name']} differs {kind} at element {int(different[0])}"
            continue
        if np.isnan(got).any() or np.isnan(want).any():
            return False, None, f"output {entry['name']} holds NaN"
        scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
        worst = max(worst, float(np.abs(got - want).max(initial=0.0)) / scale)
    if worst > job["tolerance"]:
        return False, worst, f"relative error {worst:.3g} exceeds {job['tolerance']:.3g}"
    return True, worst, None


def statistics(durations_ns):
    ordered = sorted(durations_ns)

    def percentile(p):
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]

    return {
        "p50": percentile(50),
        "p90": percentile(90),
        "p99": percentile(99),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
        "samples": len(ordered),
    }


RESOURCE = re.compile(r"(sbuf|psum|state buffer|partition).{0,80}(exceed|overflow|out of|insufficient|too large)", re.I)


def classify_compile_failure(message):
    return "resource_overflow" if RESOURCE.search(message) else "compile_error"


# Commands --------------------------------------------------------------------------------------


def command_probe(args):
    found = versions()
    missing = [] if args.dry_run else missing_nki()
    result = {"status": "ok" if not missing else "missing_nki", "versions": found, "python_path": sys.executable}
    if missing:
        result["message"] = f"NKI is not importable by {sys.executable}: missing {', '.join(missing)}"
    else:
        result["generation"] = "dry-run" if args.dry_run else Beta2Adapter.generation
    write_result(args.out, result)
    if missing:
        print(result["message"], file=sys.stderr)
        return MISSING
    return 0


def command_compile(args):
    job = read_job(args.job)
    inputs = read_inputs(job, args.dry_run)
    started = time.time()
    if args.dry_run:
        write_result(
            args.out,
            {
                "status": "dry-run",
                "inputs": {name: [list(a.shape), str(a.dtype)] for name, a in inputs.items()},
                "outputs": [[o["name"], o["shape"], o["dtype"]] for o in job["outputs"]],
                "seconds": time.time() - started,
            },
        )
        return 0
    directory = os.path.join(os.path.dirname(os.path.abspath(args.out)), "neff")
    os.makedirs(directory, exist_ok=True)
    try:
        kernel = load_kernel(job["kernel_file"], job["function"], job.get("cores", 1))
        neff = adapter().compile(kernel, inputs, job["outputs"], job["target"], job["lnc"], directory)
        result = {"status": "ok", "neff": neff}
    except Exception as error:  # the compiler's failure is the variant's result
        message = "".join(traceback.format_exception_only(type(error), error)).strip()
        result = {"status": classify_compile_failure(message), "message": tail(message + "\n" + traceback.format_exc())}
    result["seconds"] = time.time() - started
    write_result(args.out, result)
    return 0


def command_run(args):
    job = read_job(args.job)
    inputs = read_inputs(job, args.dry_run)
    started = time.time()
    if args.dry_run:
        import numpy as np

        source = args.outputs_from
        produced = [
            np.load(os.path.join(source, os.path.basename(o["expected"])) if source else o["expected"])
            for o in job["outputs"]
        ]
        durations = [1000.0 * (index + 1) for index in range(max(1, job.get("iterations", 1)))]
    else:
        try:
            kernel = load_kernel(job["kernel_file"], job["function"], job.get("cores", 1))
            durations, produced = adapter().benchmark(
                args.neff, kernel, inputs, job["outputs"], job.get("warmup", 10), job.get("iterations", 100)
            )
        except Exception as error:
            message = "".join(traceback.format_exception_only(type(error), error)).strip()
            write_result(
                args.out,
                {
                    "status": "runtime_error",
                    "message": tail(message + "\n" + traceback.format_exc()),
                    "seconds": time.time() - started,
                },
            )
            return 0
    passed, error, reason = compare(job, produced)
    result = {
        "status": "ok" if passed else "wrong_answer",
        "latency_ns": statistics(durations),
        "error": error,
        "seconds": time.time() - started,
    }
    if reason:
        result["message"] = reason
    if args.dry_run:
        result["dry_run"] = True
    write_result(args.out, result)
    return 0


def command_profile(args):
    """One traced run of the NEFF with neuron-profile; engine active times and DMA figures from
    its summary."""
    job = read_job(args.job)
    read_inputs(job, args.dry_run)
    if args.dry_run:
        write_result(args.out, {"status": "dry-run", "summary": {}})
        return 0
    directory = tempfile.mkdtemp(prefix="nkitune-profile-", dir=os.path.dirname(os.path.abspath(args.out)))
    trace = os.path.join(directory, "profile.ntff")
    try:
        subprocess.run(["neuron-profile", "capture", "-n", args.neff, "-s", trace], check=True,
                       capture_output=True, text=True, timeout=600)
        view = subprocess.run(
            ["neuron-profile", "view", "-n", args.neff, "-s", trace, "--output-format", "summary-json"],
            check=True, capture_output=True, text=True, timeout=600,
        )
        summary = json.loads(view.stdout)
        if isinstance(summary, dict) and len(summary) == 1 and isinstance(next(iter(summary.values())), dict):
            summary = next(iter(summary.values()))
        wanted = {
            key: value
            for key, value in summary.items()
            if isinstance(value, (int, float)) and ("active_time" in key or "dma" in key or key == "total_time")
        }
        write_result(args.out, {"status": "ok", "summary": wanted})
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        output = getattr(error, "stderr", None) or ""
        write_result(args.out, {"status": "profile_error", "message": tail(f"{error}\n{output}")})
    return 0


def command_health(args):
    if args.dry_run:
        write_result(args.out, {"status": "ok", "dry_run": True})
        return 0
    try:
        adapter().health()
        write_result(args.out, {"status": "ok", "cores": os.environ.get("NEURON_RT_VISIBLE_CORES", "")})
    except Exception as error:
        write_result(args.out, {"status": "unhealthy", "message": tail(f"{type(error).__name__}: {error}")})
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog="nkitune_harness.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ["probe", "health"]:
        command = commands.add_parser(name)
        command.add_argument("--out", required=True)
        command.add_argument("--dry-run", action="store_true")
    for name in ["compile", "run", "profile"]:
        command = commands.add_parser(name)
        command.add_argument("job")
        command.add_argument("--out", required=True)
        command.add_argument("--dry-run", action="store_true")
        if name != "compile":
            command.add_argument("--neff")
        if name == "run":
            command.add_argument("--outputs-from")
    args = parser.parse_args(argv)
    try:
        import numpy  # noqa: F401
    except ImportError:
        print(f"numpy is not importable by {sys.executable}; the Neuron environment has it", file=sys.stderr)
        return MISSING
    handlers = {
        "probe": command_probe,
        "compile": command_compile,
        "run": command_run,
        "profile": command_profile,
        "health": command_health,
    }
    try:
        if args.command in ["run", "profile"] and not args.dry_run and not args.neff:
            raise HarnessError(f"{args.command} needs --neff")
        if args.command != "probe" and not args.dry_run:
            missing = missing_nki()
            if missing:
                print(f"NKI is not importable by {sys.executable}: missing {', '.join(missing)}", file=sys.stderr)
                return MISSING
        return handlers[args.command](args)
    except HarnessError as error:
        print(f"nkitune_harness.py: {error}", file=sys.stderr)
        return BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
