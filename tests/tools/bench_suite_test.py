#!/usr/bin/env python3
"""The benchmark suite's parts work (ops/bench.sh; no figure is asserted): the load generator
tools/bench/mqtt_load against a real Mosquitto (bare: every reading delivered back and
counted once; --duration_s caps publishing; unanswered readings end the run, not hang it; an
unreachable broker is an error) and through a
real bridge into a one-validator ledger (MAC after key agreement, and signed: every reading
acknowledged as recorded); then ops/bench_suite.py's table writer on those results (tables
between their markers, rewritten in place on a second render, the ratios computed from the
runs) and its plots when gnuplot is installed."""
import copy
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def runfile(rel):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    ws = os.environ.get("TEST_WORKSPACE", "provledger")
    if base and os.path.exists(os.path.join(base, ws, rel)):
        return os.path.join(base, ws, rel)
    return os.path.join(HERE, "..", "..", "bazel-bin", rel)


sys.path.insert(0, os.path.dirname(runfile("tests/integration/pltest.py")))
sys.path.insert(0, os.path.dirname(runfile("ops/bench_suite.py")))
import pltest  # noqa: E402
from pltest import check, log  # noqa: E402
import bench_suite  # noqa: E402

LOAD = runfile("tools/bench/mqtt_load")


def load(port, *args, expect_rc=0):
    p = subprocess.run([LOAD, "--port=%d" % port] + list(args), capture_output=True, text=True,
                       timeout=300)
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    check(p.returncode == expect_rc, "mqtt_load %s: rc=%d, want %d\n%s\n%s" % (
        " ".join(args), p.returncode, expect_rc, p.stdout, p.stderr[-3000:]))
    return lines, p.stderr


def summary_ok(lines, published):
    check(len(lines) == 2 and lines[0] == {"phase": "ready"}, "ready line, then summary: %s" % lines)
    s = lines[1]
    check(s["ok"] and s["published"] == published and s["answered"] == published and
          s["unanswered"] == 0 and s["unmatched"] == 0 and not s["errors"],
          "every reading answered once: %s" % s)
    check(s["latency_ms"]["p50"] > 0 and s["rate"] > 0 and s["cpu_s"] >= 0, "figures: %s" % s)
    return s


def main():
    pltest.bins()
    pltest.bridge_bins()
    root = pltest.tmpdir("bench_suite")
    broker = pltest.Mosquitto(root)

    log("bare: 3 devices x 20 readings over 2 connections, each delivered back once")
    bare = summary_ok(load(broker.port, "--mode=bare", "--devices=3", "--count=20",
                           "--connections=2", "--topic_prefix=bare")[0], 60)
    check(bare["connections"] == 2 and bare["acked_recorded"] == 0, "bare: %s" % bare)

    log("--duration_s caps publishing: 1 s at 20 readings/s of 1,000 asked for")
    lines, _ = load(broker.port, "--mode=bare", "--devices=2", "--count=1000", "--rate=20",
                    "--duration_s=1", "--topic_prefix=bare")
    s = lines[-1]
    check(s["capped"] and s["ok"] and 5 <= s["published"] <= 40 and
          s["answered"] == s["published"], "capped run: %s" % s)

    log("no bridge to answer: a full window gives up after --answer_timeout_ms, not hangs")
    lines, _ = load(broker.port, "--mode=sig", "--devices=1", "--count=50", "--window=3",
                    "--answer_timeout_ms=1000", "--keys_dir=%s/nobridge" % root, expect_rc=1)
    s = lines[-1]
    check(s["stalled"] and not s["ok"] and s["published"] == 3 and s["unanswered"] == 3,
          "stalled run: %s" % s)

    log("an unreachable broker is an error, not an empty run")
    _, err = load(pltest.free_port(), "--mode=bare", "--devices=1", "--count=1", expect_rc=2)
    check("connect" in err or "refused" in err, "error names the connection: %s" % err)

    log("ledger path: one validator, a bridge; MAC (key agreement first), then signed")
    chain = pltest.Chain(root, n=1, chain_id="benchtest")
    chain.start(0)
    chain.register(devices=())
    bridge = pltest.BridgeProc(chain, broker)
    bridge.start()
    common = ["--keys_dir=%s/devkeys" % root, "--nodes=" + chain.addr(0), "--gateway_id=gw-1",
              "--insecure",
              "--devices=2", "--count=5", "--connections=2"]
    lines, err = load(broker.port, "--mode=mac", "--do_register", "--genesis=" + chain.genesis,
                      "--admin_key=%s/admin.key" % root, *common)
    mac = summary_ok(lines, 10)
    check(mac["acked_recorded"] == 10 and mac["key_failures"] == 0, "mac: %s" % mac)
    check("registered 2 devices" in err, "registration reported: %s" % err[-500:])
    sig = summary_ok(load(broker.port, "--mode=sig", *common)[0], 10)
    check(sig["acked_recorded"] == 10, "sig: %s" % sig)
    status = chain.status()
    check(status["records"] >= 20, "the 20 readings are on the ledger: %s" % status)

    log("table writer: results of these runs, rendered twice into a document with markers")
    cpu = {"broker": 0.1, "bridge": 0.2, "v0": 0.3, "generator": 0.05}
    runs = []
    for mode, s in (("bare", bare), ("mac", mac), ("sig", sig)):
        r = copy.deepcopy(s)
        r.update(kind="max", validators=4, rep=0, load1=1.0, cpu=dict(cpu), rate=s["rate"])
        runs.append(r)
        h = copy.deepcopy(r)
        h.update(kind="sweep", fraction=0.5, offered_rate=int(s["rate"] / 2))
        runs.append(h)
    res = {"config": {"devices": 2, "count": 5, "payload_size": 256, "connections": 2,
                      "window": 1000, "large_count": 1, "quick": True},
           "machine": bench_suite.machine(), "commit": "test", "runs": runs,
           "store": [{"when": "start", "records_per_s": 10000, "p50_ms": 1.0, "p99_ms": 2.0,
                      "load1": 1.0}],
           "cluster": [{"validators": 4, "seconds": 5, "records_per_s": 2500, "p50_us": 1000,
                        "p99_us": 2000, "committed_records": 12500, "validators_cpu_s": 1.0,
                        "load1": 1.0}],
           "large": [{"kb": 1000, "bare": dict(bare, load1=1.0), "mac": dict(mac, load1=1.0)}],
           "profile": {}, "wall_s": 1}
    doc = os.path.join(root, "BENCH.md")
    with open(doc, "w") as f:
        f.write("# B\n\nbefore\n\n<!-- bench:begin aims -->\nold\n<!-- bench:end aims -->\n\nafter\n")
    png = os.path.join(root, "png")
    bench_suite.render(res, doc, png)
    first = open(doc).read()
    bench_suite.render(res, doc, png)
    text = open(doc).read()
    check(text == first, "a second render changes nothing")
    check("old" not in text and text.startswith("# B\n\nbefore\n") and "\nafter\n" in text,
          "the aims table replaced in place:\n" + text[:600])
    for name in bench_suite.TABLES:
        check(text.count("<!-- bench:begin %s -->" % name) == 1 and
              text.count("<!-- bench:end %s -->" % name) == 1, "one %s table" % name)
    want = "%.3f / %.3f" % (mac["rate"] / bare["rate"], sig["rate"] / bare["rate"])
    check(want in text, "bridge / bare ratios %s in the aims table:\n%s" % (want, text[:1500]))
    us = (cpu["bridge"] + cpu["v0"]) * 1e6 / mac["answered"]
    check("{:,.0f}".format(us) in text, "ledger CPU us per reading %.0f in:\n%s" % (us, text[:1500]))
    check("0.250 (2,500 / 10,000)" in text, "cluster / store ratio in the aims table")
    check("machine of this run: %d x" % os.cpu_count() in text, "machine beside the tables")
    if shutil.which("gnuplot"):
        for f in ("throughput", "latency", "cpu", "large"):
            p = os.path.join(png, f + ".png")
            check(os.path.exists(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
                  "%s is a PNG" % p)
    else:
        log("no gnuplot here: plots not checked")
    bridge.kill()
    broker.stop()
    chain.stop_all()
    log("PASS")


if __name__ == "__main__":
    main()
