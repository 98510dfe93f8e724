"""Two mqtt_bridge binaries (A, B) against each other in one run: the same Mosquitto, the same
4-validator ledger, the same devices; A and B take turns (A B, then B A, ...) so that a machine
whose load drifts weighs on both alike. Reports per run: committed acks/s and the bridge's CPU
microseconds (utime + stime, /proc/PID/stat) per committed reading, and the ratio B/A per pair.

  python3 ops/bench_bridge_ab.py --bin=DIR --bridge_a=PATH --bridge_b=PATH \\
      [--devices=50] [--count=400] [--reps=3] [--mode=mac] [--perf_dir=DIR]
      [--flags_a="..."] [--flags_b="..."]

--bin holds ledger_node, ledgerctl and device_sim (ops/bench_bridge.sh builds and copies them).
--perf_dir: in the first pair, `perf record -g` of each bridge during its run, and the top of
`perf report --no-children` in DIR/{A,B}.txt.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import bench_bridge as bb  # noqa: E402
import pltest as t  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bridge_a", required=True)
    ap.add_argument("--bridge_b", required=True)
    ap.add_argument("--flags_a", default="")
    ap.add_argument("--flags_b", default="")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mode", default="mac")
    ap.add_argument("--dir", default="/tmp/provledger-bench-bridge-ab")
    ap.add_argument("--perf_dir", default="")
    ap.add_argument("--json_out", default="")
    ap.add_argument("--idle_s", type=float, default=5.0,
                    help="seconds of idle bridge CPU measured before each run")
    a = ap.parse_args()

    t.LEDGER_NODE = a.bin + "/ledger_node"
    t.LEDGERCTL = a.bin + "/ledgerctl"
    t.DEVICE_SIM = a.bin + "/device_sim"
    a.bin_dir = a.bin
    os.environ["TEST_TMPDIR"] = os.path.dirname(a.dir.rstrip("/")) or "/tmp"
    root = t.tmpdir(os.path.basename(a.dir.rstrip("/")))
    variants = {"A": (a.bridge_a, a.flags_a.split()), "B": (a.bridge_b, a.flags_b.split())}
    broker = t.Mosquitto(root)
    chain = t.Chain(root, n=4, chain_id="benchab")
    for i in range(4):
        chain.start(i)
    chain.register(devices=())
    procs = bb.Procs()
    for i in range(4):
        procs.add("node%d" % i, chain.procs[i].pid)
    results = {"A": [], "B": []}
    bb_args = argparse.Namespace(bin=a.bin)

    def run(name, rep, register=False, count=None, perf=False):
        path, flags = variants[name]
        t.MQTT_BRIDGE = path
        bridge = t.BridgeProc(chain, broker, name=name, extra=flags)
        bridge.start()
        try:
            if register:
                s = bb.sim_run(bb_args, chain, broker, "ab-dev", a.mode, a.devices, 1,
                               register=True)
                t.check(s["rc"] == 0, "warm-up failed: %s" % json.dumps(s))
                return None
            load = os.getloadavg()[0]  # other benchmarks may run: A and B alike
            # The bridge's CPU while idle (registry and policy polls, timers), per second: at
            # low rates it weighs on every reading; "net" below takes it out.
            i0, t0 = bb.cpu_s(bridge.proc.pid), time.time()
            time.sleep(a.idle_s)
            idle_rate = (bb.cpu_s(bridge.proc.pid) - i0) / (time.time() - t0)
            perf_p = None
            if perf and a.perf_dir:
                os.makedirs(a.perf_dir, exist_ok=True)
                perf_p = subprocess.Popen(
                    ["perf", "record", "-g", "-q", "-o", os.path.join(a.perf_dir, name + ".data"),
                     "-p", str(bridge.proc.pid)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            c0, w0 = bb.cpu_s(bridge.proc.pid), time.time()
            n0 = procs.snap()
            s = bb.sim_run(bb_args, chain, broker, "ab-dev", a.mode, a.devices, count or a.count)
            c1, w1 = bb.cpu_s(bridge.proc.pid), time.time()
            n1 = procs.snap()
            if perf_p:
                perf_p.send_signal(signal.SIGINT)
                perf_p.wait(timeout=120)
                with open(os.path.join(a.perf_dir, name + ".txt"), "w") as f:
                    subprocess.run(["perf", "report", "--stdio", "--no-children", "-i",
                                    os.path.join(a.perf_dir, name + ".data")], stdout=f,
                                   stderr=subprocess.DEVNULL)
            acked = s.get("acked_recorded", 0)
            nodes = sum(bb.Procs.diff(n0, n1).values())
            r = {"rep": rep, "rate": round(s.get("ack_rate", 0), 1), "acked": acked,
                 "readings": s.get("readings"), "rc": s["rc"],
                 "bridge_cpu_s": round(c1 - c0, 3),
                 "bridge_us_per_reading": round(1e6 * (c1 - c0) / acked, 1) if acked else None,
                 "bridge_idle_cpu_per_s": round(idle_rate, 4),
                 "bridge_net_us_per_reading":
                     round(1e6 * (c1 - c0 - idle_rate * (w1 - w0)) / acked, 1) if acked else None,
                 "nodes_us_per_reading": round(1e6 * nodes / acked, 1) if acked else None,
                 "p50_ms": s["latency_ms"]["p50"], "p99_ms": s["latency_ms"]["p99"],
                 "load1": round(load, 1)}
            bb.say("%s rep %d: %s" % (name, rep, json.dumps(r)))
            return r
        finally:
            time.sleep(2.5)
            st = bridge.stats()
            bridge.kill(signal.SIGTERM)
            if st and not register:
                bb.say("%s stats: %s" % (name, st))

    try:
        run("A", 0, register=True)
        for rep in range(a.reps):
            order = ("A", "B") if rep % 2 == 0 else ("B", "A")
            for name in order:
                results[name].append(run(name, rep, perf=(rep == 0)))
    finally:
        broker.stop()
        chain.stop_all()
    print("\n| run | A us/reading | B us/reading | B/A cpu | A net | B net | B/A net "
          "| A acks/s | B acks/s | B/A rate |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios_c, ratios_r, ratios_n = [], [], []
    for ra, rb in zip(results["A"], results["B"]):
        rc = rb["bridge_us_per_reading"] / ra["bridge_us_per_reading"]
        rr = rb["rate"] / ra["rate"]
        rn = rb["bridge_net_us_per_reading"] / ra["bridge_net_us_per_reading"]
        ratios_c.append(rc)
        ratios_r.append(rr)
        ratios_n.append(rn)
        print("| %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f |" % (
            ra["rep"], ra["bridge_us_per_reading"], rb["bridge_us_per_reading"], rc,
            ra["bridge_net_us_per_reading"], rb["bridge_net_us_per_reading"], rn,
            ra["rate"], rb["rate"], rr))
    print("median B/A: cpu per reading %.2f, net of idle %.2f, rate %.2f" % (
        statistics.median(ratios_c), statistics.median(ratios_n), statistics.median(ratios_r)))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)
    print("logs: %s" % root)


if __name__ == "__main__":
    main()
