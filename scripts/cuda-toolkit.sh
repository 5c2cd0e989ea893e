#!/usr/bin/env bash
# Install the CUDA 13.0 toolkit pieces that building `--features cuda` needs, from PyPI, into a
# venv, and print the environment to use:
#
#   eval "$(scripts/cuda-toolkit.sh)"          # nvcc and headers: enough for `cargo check --features cuda`
#   eval "$(scripts/cuda-toolkit.sh --full)"   # plus cuBLAS, cuRAND, NVRTC: enough to link a binary
#
# Why PyPI: NVIDIA ships the toolkit as wheels, so a CI machine with only package-registry access
# can compile the GPU build. Only the CUDA 13 wheels carry the nvcc program (the -cu12 ones have
# only ptxas and libnvvm). Versions are pinned: cudarc 0.19.10 refuses toolkits newer than 13.4.
# A linked binary also needs libcuda, which comes with the NVIDIA driver and no wheel ships.
#
# Environment: CUDA_VENV (default .venv-cuda in the checkout), PYTHON (default python3),
# CUDA_COMPUTE_CAP (default 90, the H100/H200). Progress goes to stderr; only `export` lines to
# stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CUDA_VENV:-$root/.venv-cuda}"
python="${PYTHON:-python3}"
full=0
case "${1:-}" in
  --full) full=1 ;;
  "") ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac

# The compile-time pieces: nvcc, its front end (crt) and NVVM, the runtime headers and cudart, CCCL.
compile_pins=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
)
# The libraries a linked binary loads (cudarc links them dynamically).
link_pins=(
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
  nvidia-cuda-nvrtc==13.0.88
)

pins=("${compile_pins[@]}")
[ "$full" = 1 ] && pins+=("${link_pins[@]}")

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv" >&2
  "$python" -m venv "$venv" >&2
fi
# pip only downloads what the venv lacks, so a rerun is quick.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2

home="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13"
if [ ! -x "$home/bin/nvcc" ]; then
  echo "error: no nvcc at $home/bin/nvcc after installing ${pins[*]}" >&2
  exit 1
fi

# The wheels ship only versioned sonames (libcudart.so.13); the linker wants the plain names.
for lib in "$home"/lib/*.so.*; do
  [ -e "$lib" ] || continue
  plain="${lib%%.so.*}.so"
  [ -e "$plain" ] || ln -s "$(basename "$lib")" "$plain"
done

"$home/bin/nvcc" --version | tail -n 2 >&2
cat <<EOF
export CUDA_HOME="$home"
export CUDA_PATH="$home"
export PATH="$home/bin:\$PATH"
export LIBRARY_PATH="$home/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$home/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
EOF
