#!/usr/bin/env python3
"""bench/gen-tree.py: a synthetic source tree for bench/scale.sh.

Usage: gen-tree.py ROOT ENTRIES [DIR_PERCENT] [SEED]

Makes ENTRIES entries below ROOT (which must not exist): DIR_PERCENT % of
them directories (default 5), spread over a few levels as on a real server
(a fan-out of about 1/DIR_PERCENT entries per directory), the rest regular
files of 0-8 KiB (most small, a few larger), with names of 4-40 bytes.
Deterministic for a given SEED.
"""
import os
import random
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, total = sys.argv[1], int(sys.argv[2])
    pct = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    if os.path.exists(root):
        sys.exit(f"gen-tree.py: {root} exists")
    ndirs = max(1, int(total * pct / 100))
    os.makedirs(root)
    dirs, depth = [root], [0]
    # directories: each new one goes under a random earlier one (a random
    # recursive tree: depth about ln(ndirs)), at most 12 levels deep
    for i in range(ndirs):
        k = rnd.randrange(len(dirs))
        while depth[k] >= 12:
            k = rnd.randrange(len(dirs))
        d = os.path.join(dirs[k], f"dir{i:07d}-{rnd.randrange(1 << 20):x}")
        os.mkdir(d)
        dirs.append(d)
        depth.append(depth[k] + 1)
    blob = rnd.randbytes(64 * 1024)
    for i in range(total - ndirs):
        d = dirs[rnd.randrange(len(dirs))]
        name = f"f{i:07d}" + "x" * rnd.randrange(0, 30) + ".dat"
        size = int(min(rnd.expovariate(1 / 1500), 8192))
        with open(os.path.join(d, name), "wb") as f:
            off = rnd.randrange(len(blob) - size)
            f.write(blob[off : off + size])
    print(f"{root}: {ndirs} directories, {total - ndirs} files")


if __name__ == "__main__":
    main()
