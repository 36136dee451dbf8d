#!/usr/bin/env bash
# Stands in for the Neuron environment's Python in the neuron backend's fault-injection tests:
# called as `misbehaving-python.sh HARNESS COMMAND [JOB] ... --out RESULT`, it answers the probe
# and health checks, and for each variant (chosen by a checksum of its configuration line) either
# behaves or misbehaves on purpose: hangs, crashes, prints garbage, leaves a child behind, gives a
# wrong answer or a runtime error. The file `misbehaviour` in the work directory holds a marker
# that names the children it starts (so the test can look for survivors) and, on its second line,
# `unhealthy` to make every health check fail.
set -u
command="$2"
shift 2
job=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --neff|--outputs-from) shift 2 ;;
        --dry-run) shift ;;
        *) job="$1"; shift ;;
    esac
done
case "$command" in
    probe) work="$(dirname "$out")" ;;
    health) work="$(dirname "$(dirname "$out")")" ;;
    *) work="$(dirname "$(dirname "$(dirname "$job")")")" ;;
esac
marker="$(sed -n 1p "$work/misbehaviour")"
health="$(sed -n 2p "$work/misbehaviour")"
case "$command" in
    probe) echo '{"status": "ok", "versions": {"python": "fake"}, "generation": "fake"}' > "$out"; exit 0 ;;
    health)
        if [ "$health" = unhealthy ]; then echo '{"status": "unhealthy", "message": "core gone"}' > "$out"
        else echo '{"status": "ok"}' > "$out"; fi
        exit 0 ;;
esac
directory="$(dirname "$job")"
configuration="$(grep '^# configuration:' "$directory/kernel.py")"
behaviour=$(( $(printf '%s' "$configuration" | cksum | cut -d' ' -f1) % 7 ))
echo "fake $command of $configuration: behaviour $behaviour"
case "$command" in
    compile)
        case $behaviour in
            1) echo "compiling for ever"; bash -c "exec -a $marker-compiler sleep 600" ;;
            2) echo "the compiler trips over itself" >&2
               echo '{"status": "compile_error", "message": "Traceback...\nNCC_E123: tile too large"}' > "$out"; exit 0 ;;
        esac
        mkdir -p "$directory/neff" && : > "$directory/neff/file.neff"
        echo "{\"status\": \"ok\", \"neff\": \"$directory/neff/file.neff\", \"seconds\": 0.1}" > "$out" ;;
    run)
        case $behaviour in
            3) echo "segfault coming"; kill -SEGV $$ ;;
            4) echo "%%% not json at all" > "$out"; exit 0 ;;
            5) # A child that outlives this process, holding its output open.
               bash -c "exec -a $marker-leftover sleep 600" &
               echo '{"status": "wrong_answer", "message": "relative error 0.5 exceeds 0.02", "latency_ns": {"p50": 5, "p90": 5, "p99": 5, "min": 5, "max": 5, "mean": 5, "samples": 1}}' > "$out"
               exit 0 ;;
            6) echo '{"status": "runtime_error", "message": "NRT error: execution failed"}' > "$out"; exit 0 ;;
        esac
        echo '{"status": "ok", "latency_ns": {"p50": 2000, "p90": 2100, "p99": 2200, "min": 1900, "max": 2300, "mean": 2050, "samples": 5}, "error": 0.001}' > "$out" ;;
esac
exit 0
