#!/usr/bin/env bash
# Import time of a TensorFlow training checkpoint: by default the SE-ResNet110 recipe's
# (a 31,432-node training .meta and 28 MB of weights with Momentum slots; make it with
# `tests/fixtures/gen/tf_recipes.py --zoo $ZOO --bench-dir /tmp/senetc-bench --steps 2`).
# Runs `senetc compile` RUNS times and prints the import phase's time as the compile
# report measures it (reading and checking every file, extracting the inference graph,
# building the IR), then min/median; the last line is `import_median_ms=<value>`.
#
#   bench/tf_import.sh [CHECKPOINT] [RUNS]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ckpt="${1:-/tmp/senetc-bench/seresnet110_train_ckpt}"
runs="${2:-7}"
if [ ! -e "$ckpt" ]; then
    echo "tf_import: $ckpt is missing; regenerate it with tests/fixtures/gen/tf_recipes.py --bench-dir /tmp/senetc-bench" >&2
    exit 1
fi
(cd "$repo" && cargo build --release --quiet)
senetc="$repo/target/release/senetc"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
times=()
for i in $(seq "$runs"); do
    start=$(date +%s%N)
    "$senetc" compile "$ckpt" -O0 --emit ir -o "$tmp/model.sir" --report "$tmp/report.json" --quiet
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    ms=$(grep -o '"import": [0-9.]*' "$tmp/report.json" | grep -o '[0-9.]*$')
    echo "run $i: import ${ms} ms (whole senetc compile -O0 process: ${wall} ms)"
    times+=("$ms")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -g)
min=$(echo "$sorted" | head -1)
median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
nodes=$(grep -o 'MetaGraphDef of [0-9]* nodes' "$tmp/report.json" | head -1 || true)
echo "checkpoint: $ckpt (${nodes:-graph})"
echo "import ms: min $min  median $median"
echo "import_median_ms=$median"
