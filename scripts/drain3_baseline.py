#!/usr/bin/env python3
"""Drain3 0.9.11 throughput on the same mixed Loghub corpus as `cargo bench --bench throughput`.

    pip install --target /tmp/drain3pkg drain3==0.9.11
    PYTHONPATH=/tmp/drain3pkg python3 scripts/drain3_baseline.py [--lines 1000000] [--random-ids]

The corpus: the content (after the `log_format` header split) of every Loghub-2k set in
../shared/datasets/loghub2k, sets in sorted name order, interleaved line by line, repeated to
--lines. --random-ids replaces every digit with a random one (cardinality explosion).
Drain3 runs with its defaults (no per-dataset masking), as a generic deployment would.
"""
import argparse, json, os, random, re, sys, time

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "loghub2k")


def fmt_regex(fmt):
    # logpai's conversion: <Field> → (?P<Field>.*?), spaces → \s+, anchored.
    parts = re.split(r"(<[^<>]+>)", fmt)
    rx = ""
    for p in parts:
        if p.startswith("<") and p.endswith(">"):
            rx += "(?P<%s>.*?)" % p[1:-1]
        else:
            rx += re.sub(r" +", r"\\s+", p)
    return re.compile("^" + rx + "$")


def corpus(n, random_ids):
    settings = json.load(open(os.path.join(ROOT, "settings.json")))["datasets"]
    sets = []
    for name in sorted(settings):
        ds = settings[name]
        rx = fmt_regex(ds["log_format"])
        lines = []
        for line in open(os.path.join(ROOT, ds["log_file"]), encoding="utf-8", errors="replace"):
            line = line.rstrip("\n")
            m = rx.match(line.strip())
            lines.append(m.group("Content") if m else line)
        sets.append(lines)
    mixed = []
    for i in range(max(map(len, sets))):
        for s in sets:
            if i < len(s):
                mixed.append(s[i])
    out = [mixed[i % len(mixed)] for i in range(max(n, len(mixed)))]
    if random_ids:
        rnd = random.Random(7)
        out = [re.sub(r"\d", lambda _: str(rnd.randrange(10)), l) for l in out]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--random-ids", action="store_true")
    args = ap.parse_args()
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig
    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    lines = corpus(args.lines, args.random_ids)
    miner = TemplateMiner(config=cfg)
    t0 = time.perf_counter()
    deadline = t0 + 120
    done = 0
    for l in lines:
        miner.add_log_message(l)
        done += 1
        if done % 10000 == 0 and time.perf_counter() > deadline:
            break
    dt = time.perf_counter() - t0
    print(json.dumps({"tool": "drain3 0.9.11", "lines": done, "seconds": round(dt, 2),
                      "lines_per_s": round(done / dt), "clusters": len(miner.drain.clusters),
                      "random_ids": args.random_ids}))


if __name__ == "__main__":
    sys.exit(main())
