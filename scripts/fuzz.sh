#!/usr/bin/env bash
# Fuzzes every decoder of outside bytes (fuzz/fuzz_targets/*.rs) for a bounded time each, one
# target at a time, and prints a summary table. See ROBUSTNESS.md, "Fuzzing".
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh jsonl otlp      # only these
#   FUZZ_SECONDS=600 scripts/fuzz.sh avro
#
# Environment:
#   FUZZ_SECONDS      time per target, seconds (default 60)
#   FUZZ_TIMEOUT      an input running longer than this many seconds is a finding (default 10)
#   FUZZ_RSS_MB       memory limit of a run, MB; a bigger allocation is a finding (default 2048)
#   FUZZ_CORPUS_MAX   a found corpus of more files than this is minimised first (default 2000)
#
# Idempotent: installs cargo-fuzz only when `cargo fuzz` is missing; the build is incremental.
# The toolchain is stable; RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags (the
# build used here, `--sanitizer none`, needs none today, but a `cargo fuzz` run with a sanitizer
# does). Build: release with debug assertions and overflow checks (cargo-fuzz's default), no
# sanitizer (the code under test is safe Rust; the one C++ library, usearch, is not instrumented
# by cargo-fuzz anyway), 16 codegen units (cargo-fuzz's default of 1 makes the DataFusion build
# of the vector_index target far slower).
#
# Corpus: the seeds in fuzz/corpus/TARGET are read, never written; what a run finds goes to
# fuzz/corpus-found/TARGET (not in git), kept for the next run on this machine. The inputs of
# past findings, fuzz/regressions/TARGET, are replayed first (a finding that comes back fails the
# run at once). Crashes, timeouts and out-of-memory inputs are written to fuzz/artifacts/TARGET/
# (not in git) and named below.
#
# Exits non-zero when any target crashed, timed out, ran out of memory or did not run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_CORPUS_MAX=${FUZZ_CORPUS_MAX:-2000}
ALL=(jsonl otlp plain avro slo_spec vector_index)
BUILD_FLAGS=(--sanitizer none --codegen-units 16)
TRIPLE=x86_64-unknown-linux-gnu
BIN_DIR="$ROOT/fuzz/target/$TRIPLE/release"
LOG_DIR="$ROOT/fuzz/target/fuzz-logs"
export RUSTC_BOOTSTRAP=1

die() { echo "fuzz.sh: $*" >&2; exit 2; }

TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  case " ${ALL[*]} " in *" $t "*) ;; *) die "unknown target '$t' (targets: ${ALL[*]})" ;; esac
done
# vector_index pulls in slo-storage (Parquet, usearch): leave it out of the build
# when it is not asked for.
FEATURES=()
case " ${TARGETS[*]} " in *" vector_index "*) ;; *) FEATURES=(--no-default-features) ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz (crates.io)" >&2
  cargo install cargo-fuzz --locked >&2 || die "cannot install cargo-fuzz"
fi

echo "fuzz.sh: building fuzz targets (cargo fuzz build ${BUILD_FLAGS[*]} ${FEATURES[*]})"
build_start=$(date +%s)
cargo fuzz build --fuzz-dir "$ROOT/fuzz" "${BUILD_FLAGS[@]}" "${FEATURES[@]}" || die "the fuzz targets did not build"
build_s=$(( $(date +%s) - build_start ))
echo "fuzz.sh: build took ${build_s}s"

mkdir -p "$LOG_DIR"
declare -A EXECS RATE NEW RESULT DETAIL
failed=0
for t in "${TARGETS[@]}"; do
  bin="$BIN_DIR/$t"
  seeds="$ROOT/fuzz/corpus/$t"
  found="$ROOT/fuzz/corpus-found/$t"
  artifacts="$ROOT/fuzz/artifacts/$t/"
  log="$LOG_DIR/$t.log"
  mkdir -p "$seeds" "$found" "$artifacts"
  [ -x "$bin" ] || { RESULT[$t]=NOT-BUILT; DETAIL[$t]="no $bin"; failed=1; continue; }

  # Keep the found corpus small: past the cap, keep only the inputs that add coverage.
  n_found=$(find "$found" -type f | wc -l)
  if [ "$n_found" -gt "$FUZZ_CORPUS_MAX" ]; then
    echo "fuzz.sh: $t: minimising $n_found found inputs"
    fresh="$found.min"
    rm -rf "$fresh" && mkdir -p "$fresh"
    if "$bin" -merge=1 -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" "$fresh" "$found" >"$LOG_DIR/$t.merge.log" 2>&1; then
      rm -rf "$found" && mv "$fresh" "$found"
    else
      rm -rf "$fresh"
      echo "fuzz.sh: $t: minimising failed (see $LOG_DIR/$t.merge.log); keeping the corpus as it is"
    fi
  fi

  echo "fuzz.sh: $t: fuzzing for ${FUZZ_SECONDS}s (log: $log)"
  # New inputs go to the first directory (found); the seeds and regressions are only read.
  dirs=("$found" "$seeds")
  [ -d "$ROOT/fuzz/regressions/$t" ] && dirs+=("$ROOT/fuzz/regressions/$t")
  "$bin" "${dirs[@]}" \
    -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
    -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1
  rc=$?
  EXECS[$t]=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  [ -n "${EXECS[$t]}" ] || EXECS[$t]=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
  [ -n "${EXECS[$t]}" ] || EXECS[$t]=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  RATE[$t]=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  NEW[$t]=$(grep -o 'stat::new_units_added: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  artifact=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/^Test unit written to //')
  if [ "$rc" -eq 0 ]; then
    RESULT[$t]=ok
    DETAIL[$t]=""
  else
    failed=1
    if grep -q 'ERROR: libFuzzer: timeout' "$log"; then RESULT[$t]=TIMEOUT
    elif grep -q -E 'ERROR: libFuzzer: (out-of-memory|malloc limit)' "$log"; then RESULT[$t]=OUT-OF-MEMORY
    elif [ -n "$artifact" ]; then RESULT[$t]=CRASH
    else RESULT[$t]="FAILED(rc=$rc)"
    fi
    DETAIL[$t]="${artifact:-see $log}"
    echo "fuzz.sh: $t: ${RESULT[$t]}: ${DETAIL[$t]}"
    grep -m1 -A4 'panicked at' "$log" | sed 's/^/    /'
    [ -n "$artifact" ] && echo "    reproduce: $bin $artifact"
  fi
done

echo
echo "fuzz summary (${FUZZ_SECONDS}s per target, build ${build_s}s)"
printf '%-14s %12s %9s %8s  %s\n' target executions exec/s "new" result
for t in "${TARGETS[@]}"; do
  printf '%-14s %12s %9s %8s  %s\n' "$t" "${EXECS[$t]:--}" "${RATE[$t]:--}" "${NEW[$t]:--}" "${RESULT[$t]} ${DETAIL[$t]}"
done
exit "$failed"
