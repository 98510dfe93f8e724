"""Bridge benchmark: bare Mosquitto against the ledger path, side by side on one machine.

Run through ops/bench_bridge.sh (which builds -c opt and copies the binaries aside). Uses
the launcher code of the integration tests (tests/integration/pltest.py), as ops/demo.py.

  (a) bare: tools/bench/mqtt_bare_bench, D devices x N QoS 1 readings to Mosquitto, one
      plain subscriber; rate = messages received/s, latency = publish -> receive.
  (b) ledger: the same D x N through mqtt_bridge into a local 4-validator PBFT ledger,
      device_sim --mode=mac and --mode=sig, --qos=1; rate = committed acknowledgements/s,
      latency = publish -> acknowledgement (sent by the bridge once the block is final).
  (c) large payloads (the seed paper's case): JSON readings of 125, 345, 665 and 1,000 KB,
      one device, one reading a second, publish -> commit (ledger) and publish -> receive
      (bare) for each.

Between measurements it waits until no `cluster_load` process runs (another benchmark on
the same machine). CPU seconds per process come from /proc/PID/stat (and wait4 for the
load generators); `top -b -n 1` snapshots are kept in the run folder.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import bench_procs  # noqa: E402
import pltest as t  # noqa: E402

KB = 1024
LARGE_SIZES_KB = (0, 125, 345, 665, 1000)  # 0: the default ~30-byte reading, for reference


def say(msg):
    print("== " + msg, flush=True)


def wait_quiet():
    """Waits until the cluster benchmark (process `cluster_load`) is not running."""
    waited = 0
    while subprocess.run(["pgrep", "-f", "cluster_load"], capture_output=True).stdout.strip():
        if waited % 30 == 0:
            say("waiting for cluster_load to finish (%ds)" % waited)
        time.sleep(1)
        waited += 1
    return os.getloadavg()[0]


def cpu_s(pid):
    """CPU seconds of `pid`, 0 once it is gone (bench_bridge_ab subtracts them)."""
    return bench_procs.cpu_s(pid, missing=0.0)


def run_timed(cmd, timeout):
    """Runs cmd; returns (rc, stdout, stderr, cpu seconds of the child)."""
    with open(os.devnull) as devnull:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=devnull,
                             text=True)
    out, err = [], []
    ts = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stdout, out)),
          threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stderr, err))]
    for th in ts:
        th.start()
    deadline = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.time() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    for th in ts:
        th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, "".join(out), "".join(err), ru.ru_utime + ru.ru_stime


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


class TopSampler:
    """`top -b -n 1` every `period` seconds into a file, while running."""

    def __init__(self, path, period=2.0):
        self.path, self.period = path, period
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def loop(self):
        with open(self.path, "a") as f:
            while not self.stop.is_set():
                out = subprocess.run(["top", "-b", "-n", "1", "-w", "160"], capture_output=True,
                                     text=True).stdout
                f.write(out + "\n")
                f.flush()
                self.stop.wait(self.period)

    def close(self):
        self.stop.set()
        self.th.join()


class Procs(bench_procs.Procs):
    """CPU seconds of the long-running processes we started, per measurement: a gone one
    counts 0, deltas in hundredths (this script's tables)."""

    def __init__(self):
        super().__init__(missing=0.0)

    @staticmethod
    def diff(a, b):
        return bench_procs.Procs.diff(a, b, digits=2)


def bare_run(a, broker, devices, count, payload_size=0, rate=0, connections=1, window=0):
    cmd = [a.bin + "/mqtt_bare_bench", "--broker=" + broker.uri(), "--devices=%d" % devices,
           "--count=%d" % count, "--qos=1", "--payload_size=%d" % payload_size,
           "--rate=%d" % rate, "--topic_prefix=bench", "--connections=%d" % connections,
           "--window=%d" % window]
    rc, out, err, cpu = run_timed(cmd, 600)
    s = last_json(out)
    if rc != 0 or s is None:
        t.fail("mqtt_bare_bench rc=%d\n%s\n%s" % (rc, out[-2000:], err[-2000:]))
    s["client_cpu_s"] = round(cpu, 2)
    return s


def alive(procs):
    """Fails loudly if one of our long-running processes went away (killed from outside)."""
    dead = [n for n, pid in procs.pids.items() if not os.path.exists("/proc/%d" % pid) or
            open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "Z"]
    t.check(not dead, "processes of this benchmark exited under it: %s" % ", ".join(dead))


def sim_run(a, chain, broker, prefix, mode, devices, count, extra=(), register=False):
    cmd = [a.bin + "/device_sim", "--broker=" + broker.uri(),
           "--keys_dir=%s/devkeys" % chain.root, "--genesis=" + chain.genesis,
           "--admin_key=%s/admin.key" % chain.root, chain.nodes_flag(),
           "--devices=%d" % devices, "--device_prefix=" + prefix, "--mode=" + mode,
           "--count=%d" % count, "--item=temp", "--qos=1", "--gateway_id=gw-1",
           "--progress_ms=0", "--list_records=0", "--ack_timeout_ms=120000"] + list(extra)
    if register:
        cmd.append("--register")
    rc, out, err, cpu = run_timed(t.with_transport(cmd), 900)
    s = last_json(out)
    if s is None:
        t.fail("device_sim %s: rc=%d\n%s\n%s" % (prefix, rc, out[-2000:], err[-3000:]))
    s.pop("records", None)
    s["client_cpu_s"] = round(cpu, 2)
    s["rc"] = rc
    if rc != 0:
        print("device_sim rc=%d: %s" % (rc, err.strip().splitlines()[-3:]), flush=True)
    return s


def sim_parallel(a, chain, broker, mode, devices, count, procs):
    """`procs` device_sim processes at once, devices/procs devices each (own MQTT connection
    each). The aggregate rate is all acks over the longest process's publish-to-last-ack."""
    out = [None] * procs
    per = devices // procs

    def one(i):
        out[i] = sim_run(a, chain, broker, "%s-p%d" % (mode, i), mode, per, count)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(procs)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    acked = sum(s["acked_recorded"] for s in out)
    span = max(s["acked_recorded"] / s["ack_rate"] for s in out if s["ack_rate"])
    lat = [s["latency_ms"] for s in out]
    return {"procs": procs, "readings": sum(s["readings"] for s in out), "acked_recorded": acked,
            "ack_rate": acked / span, "rc": max(s["rc"] for s in out),
            "publish_rate": sum(s["publish_rate"] for s in out),
            # the processes' own percentiles, combined conservatively: median p50, worst p99
            "latency_ms": {"p50": med([x["p50"] for x in lat]), "p99": max(x["p99"] for x in lat)},
            "client_cpu_s": round(sum(s["client_cpu_s"] for s in out), 2)}


def bridge_stats(bridge):
    lines = [ln for ln in bridge.log().splitlines() if "bridge_stats" in ln]
    return lines[-1] if lines else ""


def med(xs):
    return statistics.median(xs) if xs else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/provledger-bench-bridge")
    ap.add_argument("--bin", required=True, help="folder with the -c opt binaries")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--count", type=int, default=200, help="readings per device")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each throughput run")
    ap.add_argument("--large_count", type=int, default=5, help="readings per large size")
    ap.add_argument("--skip_large", action="store_true")
    ap.add_argument("--window", type=int, default=500,
                    help="bare run with at most this many messages published, not received")
    ap.add_argument("--procs", type=int, default=4,
                    help="also run with this many load generators at once (bare: publishing "
                         "connections; ledger: device_sim processes); 1 = skip")
    ap.add_argument("--modes", default="mac,sig")
    ap.add_argument("--bridge_flags", default="", help="extra mqtt_bridge flags (space-separated)")
    ap.add_argument("--json_out", default="", help="write all results here")
    a = ap.parse_args()

    t.LEDGER_NODE = a.bin + "/ledger_node"
    t.LEDGERCTL = a.bin + "/ledgerctl"
    t.MQTT_BRIDGE = a.bin + "/mqtt_bridge"
    t.DEVICE_SIM = a.bin + "/device_sim"
    for b in (t.LEDGER_NODE, t.LEDGERCTL, t.MQTT_BRIDGE, t.DEVICE_SIM, a.bin + "/mqtt_bare_bench"):
        t.check(os.path.exists(b), "missing %s: run ops/bench_bridge.sh, which builds it" % b)
    os.environ["TEST_TMPDIR"] = os.path.dirname(a.dir.rstrip("/")) or "/tmp"
    root = t.tmpdir(os.path.basename(a.dir.rstrip("/")))
    modes = [m for m in a.modes.split(",") if m]
    D, N = a.devices, a.count
    P = a.procs
    results_window = a.window
    results = {"devices": D, "count": N, "procs": P, "bare": [], "bare_p": [], "bare_w": [],
               "ledger": {m: [] for m in modes}, "ledger_p": {m: [] for m in modes},
               "window": results_window,
               "large": {}, "cpu": {}, "load": []}
    procs = Procs()

    say("Mosquitto (quickstart configuration) in %s" % root)
    broker = t.Mosquitto(root)
    procs.add("mosquitto", broker.proc.pid)

    # (a) bare Mosquitto, nothing else running of ours.
    bare_run(a, broker, 4, 50)  # warm-up
    for r in range(a.reps):
        load = wait_quiet()
        c0 = procs.snap()
        s = bare_run(a, broker, D, N)
        s["cpu"] = Procs.diff(c0, procs.snap())
        s["load1"] = round(load, 2)
        results["bare"].append(s)
        say("bare %d/%d: %s" % (r + 1, a.reps, json.dumps(s)))
        load = wait_quiet()
        s = bare_run(a, broker, D, N, window=a.window)
        s["load1"] = round(load, 2)
        results["bare_w"].append(s)
        say("bare window=%d %d/%d: %s" % (a.window, r + 1, a.reps, json.dumps(s)))
        if P > 1:
            load = wait_quiet()
            c0 = procs.snap()
            s = bare_run(a, broker, D, N, connections=P)
            s["cpu"] = Procs.diff(c0, procs.snap())
            s["load1"] = round(load, 2)
            results["bare_p"].append(s)
            say("bare x%d %d/%d: %s" % (P, r + 1, a.reps, json.dumps(s)))

    say("chain: 4 validators, gateway gw-1, bridge")
    chain = t.Chain(root, n=4, chain_id="bench")
    for i in range(4):
        chain.start(i)
        procs.add("node%d" % i, chain.procs[i].pid)
    chain.register(devices=())
    bridge = t.BridgeProc(chain, broker, extra=a.bridge_flags.split())
    bridge.start()
    procs.add("bridge", bridge.proc.pid)

    top = TopSampler(os.path.join(root, "top.txt"))
    try:
        # (b) the ledger path. Devices registered (and, for mac, a first session agreed) in
        # an unmeasured warm-up run.
        for m in modes:
            say("warm-up: register %d %s devices" % (D, m))
            s = sim_run(a, chain, broker, "%s-dev" % m, m, D, 1, register=True)
            t.check(s["rc"] == 0, "warm-up failed: %s" % json.dumps(s))
            for i in range(P if P > 1 else 0):
                s = sim_run(a, chain, broker, "%s-p%d" % (m, i), m, D // P, 1, register=True)
                t.check(s["rc"] == 0, "warm-up failed: %s" % json.dumps(s))
        for r in range(a.reps):
            for m in modes:
                load = wait_quiet()
                alive(procs)
                h0 = chain.status()
                c0 = procs.snap()
                s = sim_run(a, chain, broker, "%s-dev" % m, m, D, N)
                s["cpu"] = Procs.diff(c0, procs.snap())
                h1 = chain.status()
                s["blocks"] = h1.get("height", 0) - h0.get("height", 0)
                time.sleep(2.5)  # the bridge logs bridge_stats every 2 s
                s["load1"] = round(load, 2)
                s["bridge_stats"] = bridge_stats(bridge)
                results["ledger"][m].append(s)
                say("ledger %s %d/%d: %s" % (m, r + 1, a.reps, json.dumps(s)))
                if P > 1:
                    load = wait_quiet()
                    alive(procs)
                    h0 = chain.status()
                    c0 = procs.snap()
                    s = sim_parallel(a, chain, broker, m, D, N, P)
                    s["cpu"] = Procs.diff(c0, procs.snap())
                    s["blocks"] = chain.status().get("height", 0) - h0.get("height", 0)
                    s["load1"] = round(load, 2)
                    time.sleep(2.5)
                    s["bridge_stats"] = bridge_stats(bridge)
                    results["ledger_p"][m].append(s)
                    say("ledger %s x%d %d/%d: %s" % (m, P, r + 1, a.reps, json.dumps(s)))

        # (c) large JSON payloads, one reading a second (unloaded latency per reading).
        if not a.skip_large:
            s = sim_run(a, chain, broker, "big-dev", "mac", 1, 1, register=True)
            for kb in LARGE_SIZES_KB:
                size = kb * KB
                load = wait_quiet()
                b = bare_run(a, broker, 1, a.large_count, payload_size=size, rate=1)
                s = sim_run(a, chain, broker, "big-dev", "mac", 1, a.large_count,
                            extra=["--payload_size=%d" % size, "--rate=1"])
                results["large"][kb] = {"bare": b, "ledger": s, "load1": round(load, 2)}
                say("large %d KB: bare %s | ledger %s" % (kb, json.dumps(b), json.dumps(s)))
    finally:
        top.close()
        results["status"] = chain.status()
        bridge.kill()
        broker.stop()
        chain.stop_all()

    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=1)
    report(results, modes)
    print("\nlogs, top snapshots: %s" % root)


def report(res, modes):
    D, N, P = res["devices"], res["count"], res["procs"]
    for suffix, label in (("", "1 load generator (one MQTT connection)"),
                          ("_p", "%d load generators at once" % P)):
        bare = res["bare" + suffix]
        if not bare:
            continue
        ledger = res["ledger" + suffix]
        b_rate = med([s["rate"] for s in bare])
        print("\n## %d devices x %d QoS 1 readings, %s (median of %d runs)"
              % (D, N, label, len(bare)))
        print("| path | rate (msg/s) | bare / path | p50 ms | p99 ms | runs (rate) |")
        print("|---|---|---|---|---|---|")
        print("| bare Mosquitto, publish -> subscriber | %.0f | 1.0 | %.1f | %.1f | %s |"
              % (b_rate, med([s["p50"] for s in bare]), med([s["p99"] for s in bare]),
                 ", ".join("%.0f" % s["rate"] for s in bare)))
        bw = res.get("bare_w") if not suffix else None
        if bw:
            print("| bare Mosquitto, at most %d in flight | %.0f | %.2f | %.1f | %.1f | %s |"
                  % (res["window"], med([s["rate"] for s in bw]),
                     b_rate / med([s["rate"] for s in bw]), med([s["p50"] for s in bw]),
                     med([s["p99"] for s in bw]), ", ".join("%.0f" % s["rate"] for s in bw)))
        for m in modes:
            runs = ledger[m]
            rate = med([s["ack_rate"] for s in runs])
            print("| ledger (%s), publish -> commit ack | %.0f | %.2f | %.1f | %.1f | %s |"
                  % (m, rate, b_rate / rate if rate else 0,
                     med([s["latency_ms"]["p50"] for s in runs]),
                     med([s["latency_ms"]["p99"] for s in runs]),
                     ", ".join("%.0f" % s["ack_rate"] for s in runs)))
        if bw:
            best = max(b_rate, med([s["rate"] for s in bw]))
            print("best bare rate / ledger rate: " + ", ".join(
                "%s %.2f" % (m, best / med([s["ack_rate"] for s in ledger[m]])) for m in modes))
        print("\nCPU seconds per run (median):")
        names = sorted({n for s in bare for n in s["cpu"]} |
                       {n for m in modes for s in ledger[m] for n in s["cpu"]})
        print("| run | " + " | ".join(names) + " | load generator(s) | load1 |")
        print("|---|" + "---|" * (len(names) + 2))
        rows = [("bare", bare)] + [("ledger " + m, ledger[m]) for m in modes]
        for lab, runs in rows:
            print("| %s | " % lab + " | ".join(
                "%.2f" % med([s["cpu"].get(n, 0.0) for s in runs]) for n in names) +
                " | %.2f | %.1f |" % (med([s["client_cpu_s"] for s in runs]),
                                     med([s["load1"] for s in runs])))
        for m in modes:
            runs = ledger[m]
            print("ledger %s: blocks per run %s, records/block %.0f" % (
                m, [s["blocks"] for s in runs],
                med([s.get("readings", D * N) / s["blocks"] for s in runs if s["blocks"]])))
    if res["large"]:
        print("\n## large JSON payloads, 1 device, 1 reading/s, QoS 1")
        print("| payload | bare p50 ms | bare max ms | ledger p50 ms | ledger max ms | acked |")
        print("|---|---|---|---|---|---|")
        for kb, r in sorted(res["large"].items(), key=lambda kv: int(kv[0])):
            b, s = r["bare"], r["ledger"]
            label = "%s KB" % kb if int(kb) else "~30 B"
            print("| %s | %.1f | %.1f | %.1f | %.1f | %d/%d |" % (
                label, b["p50"], b["max"], s["latency_ms"]["p50"], s["latency_ms"]["max"],
                s["acked_recorded"], s["readings"]))


if __name__ == "__main__":
    main()
