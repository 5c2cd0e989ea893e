#!/usr/bin/env bash
# The device check of issue 17, for a machine with an NVIDIA GPU and driver (sized for an H200
# with 16 cores: under 8 minutes). Steps, each under its own time limit:
#   1. toolkit: a system nvcc (CUDA_HOME or PATH) if present, else CUDA 13.0 from PyPI
#      (scripts/cuda-toolkit.sh --full); compute capability from nvidia-smi;
#   2. build: `cargo test --release --features cuda --test cuda_parity --no-run` (builds the
#      mhbench binary too) in target/cuda;
#   3. parity: tests/cuda_parity.rs, CPU vs GPU logits on the tiny models and Gemma 3 270M
#      (1e-2 on logits, greedy agreement up to near-ties);
#   4. bench: `mhbench bench --device cuda` on Gemma 3 270M and on a synthetic Llama 3.1 8B
#      Q4_K_M (scripts/synthetic-gguf.py; the row is skipped with a message if the script is
#      absent) at batch 1, 8, 32, 64, pp512 and tg128 at depth 0, sampling nvidia-smi every 100 ms
#      for the peak device memory;
#   5. report: scripts/gpu_report.py writes gpu-check.json and gpu-check.md with the card's
#      bandwidth bound for batch-1 decode and the verdicts of the issue's targets.
# llama.cpp is not built here: its CUDA build alone takes longer than the 8 minutes.
#
# Usage: scripts/gpu-check.sh [--out DIR] [--dry-run]
#   --out DIR   where the JSON and Markdown go (default: $OUT if set, else results/gpu-check)
#   --dry-run   check everything but the device: toolkit found, scripts and model files present,
#               the bench command lines parse (the CPU binary refuses --device cuda by name), the
#               GGUF reader and the JSON/Markdown writers work on fake rows marked as dry-run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/results/gpu-check}"
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--dry-run]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
work="$out/work"
mkdir -p "$work"
started=$(date +%s)
note() { echo "[gpu-check +$(( $(date +%s) - started ))s] $*" >&2; }
fail() { note "FAILED: $*"; exit 1; }

gemma="models/gemma-3-270m-q4_k_m.gguf"  # scripts/fetch-default-model.sh puts it there
synth_script="scripts/synthetic-gguf.py"
synth_model="${SYNTH_GGUF:-$root/models/synthetic-llama-3.1-8b-instruct-q4_k_m.gguf}"
batches="1,8,32,64"
bench_args=(bench --device cuda --pp 512 --tg 128 --depth 0 --batch "$batches" --repetitions 2 --warmup 1 --output json)

# --- 1. toolkit ----------------------------------------------------------------------------
toolkit() {
  local nvcc=""
  if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then nvcc="$CUDA_HOME/bin/nvcc";
  elif command -v nvcc >/dev/null; then nvcc="$(command -v nvcc)"; fi
  if [ -n "$nvcc" ]; then
    export CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$nvcc")")}"
    export PATH="$CUDA_HOME/bin:$PATH"
    note "toolkit: system nvcc at $nvcc"
  else
    local flag=--full
    [ "$dry_run" = 1 ] && flag=""
    eval "$(scripts/cuda-toolkit.sh $flag)"
    note "toolkit: PyPI wheels at $CUDA_HOME"
  fi
  local version
  version="$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')"
  [ -n "$version" ] || fail "nvcc --version names no release"
  # cudarc 0.19.10 accepts CUDA 11.4 to 13.4.
  python3 -c "import sys; v=tuple(map(int,'$version'.split('.'))); sys.exit(0 if (11,4)<=v<=(13,4) else 1)" \
    || fail "CUDA $version: cudarc 0.19.10 needs 11.4 to 13.4; unset CUDA_HOME to use the PyPI toolkit"
  note "toolkit: CUDA $version"
}

# --- 2. GPU facts ------------------------------------------------------------------------------
gpu_name=""
gpu_facts() {
  command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
  gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
  [ -n "$gpu_name" ] || fail "nvidia-smi lists no GPU"
  local cap
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d '. ')"
  export CUDA_COMPUTE_CAP="${cap:-90}"
  note "gpu: $gpu_name, compute capability $CUDA_COMPUTE_CAP"
  # The driver installs libcuda.so.1; the linker looks for libcuda.so, which not every install has.
  if ! ldconfig -p | grep -q 'libcuda\.so '; then
    local so1
    so1="$(ldconfig -p | sed -n 's/.*libcuda\.so\.1 (.*) => //p' | head -n 1)"
    [ -n "$so1" ] || fail "ldconfig finds no libcuda.so.1: the NVIDIA driver's library is missing"
    mkdir -p "$work/lib"
    ln -sf "$so1" "$work/lib/libcuda.so"
    export LIBRARY_PATH="$work/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
  fi
}

# Peak of nvidia-smi's memory.used (MiB) while a command runs, written to $1.
with_peak_memory() {
  local peak_file="$1"; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$peak_file.samples" &
  local sampler=$!
  local rc=0
  "$@" || rc=$?
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sort -n "$peak_file.samples" | tail -n 1 | tr -d ' ' > "$peak_file"
  return $rc
}

# Writes the synthetic 8B GGUF (in the background, beside the build); prints `skip: why` on failure.
synthetic_model() {
  if [ ! -f "$synth_script" ]; then
    echo "skip: $synth_script absent (written by the throughput issue's helper)"
    return 0
  fi
  [ -f "$synth_model" ] && return 0
  python3 -c 'import gguf, numpy' 2>/dev/null || python3 -m pip install --quiet gguf numpy >&2
  # Written under a temporary name, so a file cut off by the time limit is never benched later.
  timeout 240 nice -n 5 python3 "$synth_script" --model llama-3.1-8b-instruct --out "$synth_model.part" >&2 \
    && mv "$synth_model.part" "$synth_model" \
    || echo "skip: $synth_script failed or took over 240 s (see $work/synthetic.log)"
}

report_args=(--out "$out" --git-commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")

if [ "$dry_run" = 1 ]; then
  toolkit
  [ -f "$gemma" ] || fail "$gemma absent: run scripts/fetch-default-model.sh"
  for f in tests/fixtures/engine/tiny_llama.gguf tests/fixtures/engine/tiny_qwen2.gguf \
           tests/fixtures/engine/tiny_qwen3.gguf tests/fixtures/engine/tiny_qwen2/config.json \
           tests/cuda_parity.rs scripts/gpu_report.py scripts/cuda-toolkit.sh; do
    [ -f "$f" ] || fail "$f absent"
  done
  if [ -f "$synth_script" ]; then
    python3 "$synth_script" --model llama-3.1-8b-instruct --plan > "$work/synthetic-plan.json" \
      || fail "$synth_script --plan failed"
    note "synthetic 8B: $synth_script --plan lists $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get('tensors', d)) if isinstance(d, dict) else len(d))" "$work/synthetic-plan.json") entries"
  else
    note "synthetic 8B: $synth_script absent; the GPU run will skip that row"
  fi
  bin="${MHBENCH_BIN:-$root/target/debug/mhbench}"
  [ -x "$bin" ] || fail "$bin absent: build the CPU binary first (cargo build)"
  # The exact bench command of the GPU run, against a CPU-only binary: clap must accept it, and
  # the binary must refuse the device by name instead of measuring the CPU.
  set +e
  "$bin" "${bench_args[@]}" --model gemma-3-270m --out "$work/never.json" 2> "$work/bench-cpu-binary.err"
  rc=$?
  set -e
  grep -q "built without the \`cuda\` feature" "$work/bench-cpu-binary.err" \
    || fail "bench command (exit $rc) did not stop with the missing-feature message: $(cat "$work/bench-cpu-binary.err")"
  [ ! -e "$work/never.json" ] || fail "the CPU binary wrote results for --device cuda"
  note "bench command line parses; the CPU binary refuses --device cuda by name"
  # A tiny CPU bench, so the report reads mhbench's real JSON (rows marked as dry run).
  "$bin" bench --device cpu --model gemma-3-270m --pp 8 --tg 4 --depth 0 --batch 1,2 --repetitions 1 --warmup 0 \
    --output json --out "$work/cpu-bench.json" > /dev/null 2> "$work/cpu-bench.err" \
    || fail "CPU bench failed: $(tail -n 3 "$work/cpu-bench.err")"
  python3 scripts/gpu_report.py "${report_args[@]}" --dry-run --gpu "NVIDIA H200 (dry run)" \
    --bench "gemma-3-270m=$work/cpu-bench.json" --gguf "gemma-3-270m=$gemma"
  grep -q "DRY RUN" "$out/gpu-check.md" || fail "the Markdown is not marked as a dry run"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['dry_run'] and all(r.get('fake') for r in d['rows']) else 1)" \
    "$out/gpu-check.json" || fail "the JSON rows are not all marked fake"
  note "dry run passed: everything but the device checked"
  exit 0
fi

gpu_facts
toolkit
[ -f "$gemma" ] || timeout 120 scripts/fetch-default-model.sh >&2 || note "$gemma absent and not fetchable: its rows are skipped"
synthetic_model > "$work/synthetic.skip" 2> "$work/synthetic.log" &
synth_job=$!
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
note "building (CUDAFORGE_THREADS=$CUDAFORGE_THREADS)"
timeout 240 cargo test --release --locked --features cuda --target-dir target/cuda --test cuda_parity --no-run \
  > "$work/build.log" 2>&1 || fail "cuda build failed or took over 240 s; see $work/build.log"
bin="$root/target/cuda/release/mhbench"
note "built $bin"

parity_rc=0
timeout 45 cargo test --release --locked --features cuda --target-dir target/cuda --test cuda_parity \
  -- --nocapture --test-threads 1 > "$work/parity.log" 2>&1 || parity_rc=$?
note "parity: exit $parity_rc; $(grep -c '^PARITY' "$work/parity.log" || true) PARITY lines"
report_args+=(--gpu "$gpu_name" --parity "$work/parity.log" --parity-rc "$parity_rc")
[ -f "$gemma" ] && report_args+=(--gguf "gemma-3-270m=$gemma")

bench_model() {  # name, model argument, seconds
  local name="$1" model="$2" limit="$3"
  if with_peak_memory "$work/$name.peak" timeout "$limit" "$bin" "${bench_args[@]}" --model "$model" \
      --out "$work/$name.json" > "$work/$name.log" 2>&1; then
    report_args+=(--bench "$name=$work/$name.json" --peak "$name=$(cat "$work/$name.peak")")
    note "bench $name done (peak $(cat "$work/$name.peak") MiB)"
  else
    report_args+=(--skip "$name=bench failed or took over ${limit}s: $(tail -n 1 "$work/$name.log")")
    note "bench $name failed; see $work/$name.log"
  fi
}

if [ -f "$gemma" ]; then
  bench_model gemma-3-270m gemma-3-270m 45
else
  report_args+=(--skip "gemma-3-270m=$gemma absent (scripts/fetch-default-model.sh could not fetch it)")
fi
wait "$synth_job" || true
reason="$(cat "$work/synthetic.skip")"
if [ -z "$reason" ] && [ -f "$synth_model" ]; then
  report_args+=(--gguf "synthetic-llama-3.1-8b-q4_k_m=$synth_model")
  bench_model synthetic-llama-3.1-8b-q4_k_m "$synth_model" 100
else
  report_args+=(--skip "synthetic-llama-3.1-8b-q4_k_m=${reason#skip: }")
  note "${reason:-synthetic model missing}"
fi

python3 scripts/gpu_report.py "${report_args[@]}"
note "done"
