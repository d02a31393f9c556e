#!/usr/bin/env bash
# Independent check of senetc's Ascend OM files with netron's own OM reader.
#
# 1. Sets up the validator's Python venv once per machine (netron, protobuf, grpcio-tools;
#    reused when present; OMVENV overrides its location, default /tmp/omvenv).
# 2. Writes an OM (force_fp32 and force_fp16) plus its `atc --mode=1` JSON for every ONNX
#    model of the corpus and the repo's tiny model (tests/ascend_corpus.rs with SENETC_OM_DIR).
# 3. Runs shared/tools/om_validator/validate_om.mjs on each OM and compares netron's nodes
#    (names, types, count, input counts) with the ops senetc's JSON lists (tests/python/om_compare.py).
# Exit 0 only if every OM passes. Usage: tests/python/om_validate.sh [OUT_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
corpus="${SENETC_CORPUS:-$repo/../shared}"
validator="$corpus/tools/om_validator/validate_om.mjs"
venv="${OMVENV:-/tmp/omvenv}"
out="${1:-${SENETC_OM_DIR:-$(mktemp -d /tmp/senetc_om.XXXXXX)}}"

if [ ! -f "$validator" ]; then
    if [ "${SENETC_REQUIRE_CORPUS:-0}" = 1 ]; then echo "om_validate: validator missing at $validator" >&2; exit 1; fi
    echo "*** SKIPPED om_validate: no validator at $validator (set SENETC_CORPUS) ***"; exit 0
fi
if ! "$venv/bin/python" -c 'import netron' 2>/dev/null; then
    echo "om_validate: creating $venv (netron, protobuf, grpcio-tools)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet netron protobuf grpcio-tools
fi
netron_dir="$("$venv/bin/python" -c 'import netron, os; print(os.path.dirname(netron.__file__))')"

mkdir -p "$out"
rm -f "$out"/*.om "$out"/*.json
(cd "$repo" && SENETC_OM_DIR="$out" cargo test --release --quiet --test ascend_corpus >/dev/null)

status=0
count=0
for om in "$out"/*.om; do
    [ -e "$om" ] || { echo "om_validate: no OM written to $out" >&2; exit 1; }
    count=$((count + 1))
    if ! NETRON_DIR="$netron_dir" node --experimental-detect-module "$validator" "$om" --json > "${om%.om}.netron.json" 2> "${om%.om}.netron.err"; then
        echo "FAIL $(basename "$om"): validator exit $?: $(cat "${om%.om}.netron.err")"
        status=1
        continue
    fi
    if ! "$venv/bin/python" "$repo/tests/python/om_compare.py" "${om%.om}.netron.json" "${om%.om}.json"; then
        status=1
    fi
done
echo "om_validate: $count OM files checked in $out"
if [ "$status" = 0 ]; then echo "$count passed, 0 failed"; else echo "om_validate: FAILED"; fi
exit $status
