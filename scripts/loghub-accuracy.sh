#!/usr/bin/env bash
# Template-mining accuracy on the Loghub-2k data sets.
# For each data set in ../shared/datasets/loghub2k: mine the raw log with the generic miner
# (only `log_format` from settings.json is used, to split the header), score the predictions
# against *_structured.csv and *_structured_corrected.csv with ../shared/tools/loghub_eval.py,
# and print a Markdown table with averages.
# Usage: scripts/loghub-accuracy.sh [extra bench_loghub_mine args, e.g. --threshold 0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/datasets/loghub2k
EVAL=../shared/tools/loghub_eval.py
OUT=${OUT_DIR:-target/loghub-accuracy}
mkdir -p "$OUT"
# LOGHUB_MINE_BIN: use an already built binary instead of building the example
if [[ -n "${LOGHUB_MINE_BIN:-}" ]]; then
  BIN=$LOGHUB_MINE_BIN
else
  cargo build --release -q -p slo-operators --example bench_loghub_mine
  BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_loghub_mine
fi
datasets=$(python3 -c "import json;print(' '.join(json.load(open('$DATA/settings.json'))['datasets']))")
rows=()
for d in $datasets; do
  fmt=$(python3 -c "import json,sys;print(json.load(open('$DATA/settings.json'))['datasets'][sys.argv[1]]['log_format'])" "$d")
  pred="$OUT/${d}_predictions.csv"
  "$BIN" --format "$fmt" --input "$DATA/$d/${d}_2k.log" --predictions "$pred" "$@" 2>/dev/null
  a=$(python3 "$EVAL" --json "$pred" "$DATA/$d/${d}_2k.log_structured.csv")
  b=$(python3 "$EVAL" --json "$pred" "$DATA/$d/${d}_2k.log_structured_corrected.csv")
  rows+=("$d"$'\t'"$a"$'\t'"$b")
done
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, json
keys = ["GA", "FGA", "PA", "FTA"]
print("| dataset | " + " | ".join(keys) + " | " + " | ".join(k + " (corr.)" for k in keys) + " |")
print("|---" * (1 + 2 * len(keys)) + "|")
tot = [0.0] * (2 * len(keys)); n = 0
for line in sys.stdin:
    d, a, b = line.rstrip("\n").split("\t")
    a, b = json.loads(a), json.loads(b)
    vals = [a[k] for k in keys] + [b[k] for k in keys]
    tot = [t + v for t, v in zip(tot, vals)]; n += 1
    print(f"| {d} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
print("| **average** | " + " | ".join(f"**{t / n:.3f}**" for t in tot) + " |")
'
