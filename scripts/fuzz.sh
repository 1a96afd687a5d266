#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer): builds them all once, then runs
# each for SECONDS_PER_TARGET (default 60) from a scratch copy of its committed seed corpus,
# so nothing a run finds is added to fuzz/corpus/. Exits non-zero if any target crashed,
# failed an assertion, timed out on an input or ran out of memory, after printing the
# input (under fuzz/artifacts/<target>/) and the command that reproduces it.
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   scripts/fuzz.sh 20               # every target, 20 s each (scripts/test.sh)
#   scripts/fuzz.sh 600 cron_parse   # one target, ten minutes
#
# Installs cargo-fuzz if missing and uses the nightly toolchain (libFuzzer's coverage
# instrumentation needs it; the product itself builds on stable).
#
# Built with `--sanitizer none`: the code under test is safe Rust, so AddressSanitizer would
# add little here but instrumentation of every crate and every memory access, in the build
# and in every run on the 2-core CI machine; libFuzzer's coverage guidance works the same.
# Debug assertions and overflow checks are on (`--debug-assertions`), so an arithmetic
# overflow is a crash, not a wrapped value.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac

# 16 code units instead of cargo-fuzz's 1: a faster build from clean on two cores, for a few
# percent of speed. Reproduce with the same flags, or cargo rebuilds everything.
flags=(--sanitizer none --debug-assertions --codegen-units 16)
# libFuzzer: a single input running over 10 s is a hang and fails the run like a crash.
libfuzzer=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

rustup toolchain list | grep '^nightly' >/dev/null || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "building ${targets[*]} (nightly, ${flags[*]})"
started=$SECONDS
cargo +nightly fuzz build "${flags[@]}"
echo "built in $((SECONDS - started)) s"

host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$host/release"
logs="fuzz/target/fuzz-logs"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$logs"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t" "$scratch/$t"
  [ -d "fuzz/corpus/$t" ] && cp -R "fuzz/corpus/$t/." "$scratch/$t/"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  printf '%-16s %4s s ... ' "$t" "$seconds"
  # TMPDIR in the scratch directory: what a target writes there (body_extract's platform)
  # goes when the run ends.
  mkdir -p "$scratch/tmp"
  if TMPDIR="$scratch/tmp" "$bin_dir/$t" "${libfuzzer[@]}" -artifact_prefix="fuzz/artifacts/$t/" "$scratch/$t" >"$logs/$t.log" 2>&1; then
    echo "ok ($(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log") runs)"
  else
    echo "FAILED"
    failed+=("$t")
    # The panic (or libFuzzer's verdict: timeout, out of memory) and the input's bytes.
    grep -m1 -A3 'panicked at' "$logs/$t.log" || true
    grep -E '^(==[0-9]+== ERROR|SUMMARY|MS: |0x)' "$logs/$t.log" | cut -c1-300 || true
    if [ "$(find "fuzz/artifacts/$t" -type f | wc -l)" -gt "$before" ]; then
      artifact=$(ls -t "fuzz/artifacts/$t"/* | head -n 1)
      echo "  input:      $artifact"
      echo "  reproduce:  cargo +nightly fuzz run ${flags[*]} $t $artifact"
      echo "  minimize:   cargo +nightly fuzz tmin ${flags[*]} $t $artifact"
    fi
    echo "  full log:   $logs/$t.log"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzzing passed: ${targets[*]} (${seconds} s each)"
