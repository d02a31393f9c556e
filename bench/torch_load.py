#!/usr/bin/env python3
"""Load time and peak memory of senetc's PyTorch weights import on the full SENet154.

Make the weights first (about 1.85 GB; delete the folder afterwards):

    /tmp/venv-torch/bin/python tests/fixtures/gen/torch_senet_fixtures.py bench --out /tmp/senet154_bench
    python3 bench/torch_load.py target/release/senetc /tmp/senet154_bench

For each weights file this runs, under /usr/bin/time -v,

    senetc compile --arch senet154 --weights FILE -O0 --emit ir -o OUT.sir --report REPORT.json

(import, verify, the CPU plan check and the text IR, whose content hashes read every weight once),
and prints the import time from the report, the whole process's wall time and its peak RSS against
the file's size. The goal: import <= 1 s, peak RSS <= 1.2 x the file. `senetc inspect FILE` is
timed too (it reads the pickle and the architecture fit, never the tensor bytes). Standard library only.
"""
import json
import os
import re
import subprocess
import sys
import tempfile


def timed(cmd):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return rss_kb * 1024, secs


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    senetc, folder = sys.argv[1], sys.argv[2]
    files = [os.path.join(folder, f) for f in ("senet154_cadene.pth", "senet154_cadene.safetensors")]
    out = tempfile.mkdtemp(prefix="senetc-torch-load-")
    print(f"{'file':<30} {'MB':>7} {'import ms':>10} {'compile -O0 s':>14} {'peak RSS MB':>12} {'RSS/file':>9} {'inspect s':>10} {'inspect RSS MB':>15}")
    for f in files:
        size = os.path.getsize(f)
        report = os.path.join(out, "report.json")
        cmd = [senetc, "compile", "--arch", "senet154", "--weights", f, "-O0", "--emit", "ir", "-o", os.path.join(out, "senet154.sir"), "--report", report]
        timed(cmd)  # warm the page cache: the goal is about parsing and binding, not the disk
        rss, wall = timed(cmd)
        import_ms = json.load(open(report))["timings_ms"]["import"]
        irss, iwall = timed([senetc, "inspect", f])
        print(f"{os.path.basename(f):<30} {size / 1e6:>7.1f} {import_ms:>10.1f} {wall:>14.2f} {rss / 1e6:>12.1f} {rss / size:>9.3f} {iwall:>10.2f} {irss / 1e6:>15.1f}")
        ok = import_ms <= 1000 and rss <= 1.2 * size
        print(f"  goal (import <= 1000 ms, peak RSS <= 1.2 x file): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
