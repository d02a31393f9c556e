"""Compare netron's view of an OM (validate_om.mjs --json) with the ops senetc's
`atc --mode=1` JSON of the same model lists. netron folds Const ops into their consumers,
so senetc's non-Const ops must equal netron's nodes one for one: same names, types and
order, and each node's data-input count (control edges aside) must match.
usage: om_compare.py NETRON.json SENETC.json"""
import json
import sys
from collections import Counter


def main(netron_path, senetc_path):
    netron = json.load(open(netron_path))
    senetc = json.load(open(senetc_path))
    name = senetc_path.rsplit("/", 1)[-1]
    errors = [c for c in netron["ge_checks"] if c.startswith("FAIL")]
    nodes = netron["modules"][0]["nodes"]
    ops = [op for op in senetc["graph"][0]["op"] if op["type"] != "Const"]
    if len(nodes) != len(ops):
        errors.append(f"netron sees {len(nodes)} nodes, senetc lists {len(ops)} non-Const ops")
    for n, op in zip(nodes, ops):
        if (n["name"], n["type"]) != (op["name"], op["type"]):
            errors.append(f"node {n['name']} ({n['type']}) vs op {op['name']} ({op['type']})")
            break
        inputs = [i for i in op.get("input", []) if i and not i.endswith(":-1")]
        if len(n["inputs"]) != len(inputs):
            errors.append(f"{op['name']}: netron sees {len(n['inputs'])} inputs, senetc wrote {len(inputs)}")
            break
    types_n = Counter(n["type"] for n in nodes)
    types_s = Counter(op["type"] for op in ops)
    if types_n != types_s:
        errors.append(f"op type histograms differ: netron {dict(types_n)} vs senetc {dict(types_s)}")
    if errors:
        print(f"FAIL {name}: " + "; ".join(errors))
        return 1
    hist = ", ".join(f"{t} {c}" for t, c in sorted(types_n.items()))
    print(f"ok   {name}: {len(nodes)} nodes ({hist})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
