"""The benchmark suite of issue 16: bare Mosquitto and the bridge path, side by side, one run.

Run through ops/bench.sh (which builds -c opt and copies the binaries to $PL_BENCH_BIN).
Starts the processes with the integration tests' launcher (tests/integration/pltest.py),
drives them with tools/bench/mqtt_load (libmosquitto; the same generator for both sides),
collects its JSON lines and the CPU time of every process from /proc/PID/stat, and writes:

  - the tables between `<!-- bench:begin NAME -->` and `<!-- bench:end NAME -->` in
    docs/BENCHMARKS.md (--doc), each with the machine of the run beside it;
  - PNG plots (gnuplot) into docs/bench/ (--png_dir), and the raw results as JSON there;
  - with the `profile` stage, `perf record -a -g` under load, the samples of the bridge and of
    one validator: their top functions in docs/bench/profile-{bridge,validator}.txt.

Stages (--stages, comma-separated, in this order): store (ledger_bench store_append),
v4 and v7 (a 4- and a 7-validator chain with a bridge: bare/MAC/signed at full speed,
alternating, --reps times; offered-load sweep; cluster_load; v4 only: large payloads),
profile (on the 4-validator chain, under MAC load), store again at the end.
--render_only=FILE re-renders the tables and plots from a saved results JSON.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import pltest as t  # noqa: E402
from bench_procs import Procs  # noqa: E402


class SuiteFailure(BaseException):
    """pltest.fail inside the suite: ends the measuring, keeps what was measured. Not an
    Exception, so that pltest.wait_for's polling does not swallow it."""


def _fail(msg):
    print("FAIL:", msg, flush=True)
    raise SuiteFailure(msg)


t.fail = _fail
LARGE_KB = (125, 345, 665, 1000)  # the seed paper's payloads (1,000 KB = 1,024,000 bytes)
KB = 1024
TABLES = ("machine", "aims", "ab", "throughput", "latency", "cpu", "large", "store", "profile")


def say(msg):
    print("== %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def scrape_counters(port):
    """Summed samples by family name, label set folded in: {"name{labels}": value}; {} when
    the node does not answer."""
    out = {}
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            text = r.read().decode("utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("provledger_node_consensus_resends_total") or \
                line.startswith('provledger_node_blocks_appended_total{source="consensus"}'):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def resends_of(chain, before, after):
    """Resends (all validators, by kind) and blocks committed (validator 0) between two
    scrapes of every validator (scrape_all)."""
    out = {"blocks": 0}
    for i, (b, a) in enumerate(zip(before, after)):
        for k, v in a.items():
            d = v - b.get(k, 0)
            if k.startswith("provledger_node_blocks_appended_total"):
                if i == 0:
                    out["blocks"] = d
            else:
                kind = k.split('kind="', 1)[1].split('"', 1)[0]
                out[kind] = out.get(kind, 0) + d
    return out


def knows_insecure(binary):
    """Whether `binary` has the --insecure flag (built after TLS came): older ones speak
    plaintext without it and refuse an unknown flag. Its start-up warning's event name is in
    every binary that has the flag."""
    with open(binary, "rb") as f:
        return b"insecure_transport" in f.read()


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def machine():
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) / 1048576
    out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-seconds", "1", "-bytes",
                          "16384"], capture_output=True, text=True).stdout
    sha = None
    for line in out.splitlines():
        m = re.match(r"^sha256\s+([\d.]+)k\s*$", line.strip())
        if m:
            sha = float(m.group(1)) * 1000 / 1e6  # openssl's k = 1000 bytes/s
    ver = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem), "sha256_mb_s": sha,
            "openssl": ver, "load_start": loadavg(),
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")}


class Suite:
    def __init__(self, a):
        self.a = a
        self.root = a.dir
        self.res = {"config": {k: v for k, v in vars(a).items()}, "runs": [], "store": [],
                    "cluster": [], "large": [], "profile": {}}
        self.keys_dir = os.path.join(self.root, "devkeys")
        self.broker = None

    # --- generator ------------------------------------------------------------------------
    def gen(self, mode, procs, devices=None, count=None, size=None, rate=0, conns=None,
            prefix=None, dev_prefix="load", chain=None, register=False, tag=None, log="gen",
            duration=0, gateway="gw-1"):
        a = self.a
        devices = devices or a.devices
        count = count or a.count
        size = a.payload_size if size is None else size
        conns = conns or a.connections
        prefix = prefix or ("bare" if mode == "bare" else "devices")
        cmd = [a.bin + "/mqtt_load", "--port=%d" % self.broker.port, "--mode=" + mode,
               "--topic_prefix=" + prefix, "--device_prefix=" + dev_prefix,
               "--devices=%d" % devices, "--count=%d" % count, "--payload_size=%d" % size,
               "--rate=%d" % rate, "--connections=%d" % conns, "--window=%d" % a.window,
               "--keys_dir=" + self.keys_dir, "--duration_s=%d" % duration,
               # Up to 4 x --window readings in flight drain at the path's rate: on a loaded
               # machine that can take minutes; leftovers would load the next run.
               "--answer_timeout_ms=%d" % (a.answer_timeout_s * 1000)]
        if chain is not None:
            cmd += ["--nodes=" + ",".join(chain.addr(i) for i in range(len(chain.ids))),
                    "--gateway_id=" + gateway, "--insecure"]
            if register:
                cmd += ["--do_register", "--genesis=" + chain.genesis,
                        "--admin_key=%s/admin.key" % chain.root]
        errf = open(os.path.join(self.root, log + ".log"), "a")
        errf.write("$ %s\n" % " ".join(cmd))
        errf.flush()
        la = loadavg()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True)
        c0, x0, m0, summary = None, None, None, None
        for line in p.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            j = json.loads(line)
            if j.get("phase") == "ready":
                c0 = procs.snap()
                x0 = procs.snap_ctx()
                m0 = self.scrape_all(chain)
            else:
                summary = j
        rc = p.wait()
        c1 = procs.snap()
        x1 = procs.snap_ctx()
        m1 = self.scrape_all(chain)
        errf.close()
        if summary is None:
            t.fail("mqtt_load %s rc=%d gave no summary (see %s/%s.log)" % (mode, rc, self.root, log))
        summary["rc"] = rc
        summary["load1"] = la[0]
        summary["cpu"] = Procs.diff(c0 or c1, c1)
        summary["cpu"]["generator"] = summary["cpu_s"]
        summary["ctx"] = Procs.diff(x0 if c0 else x1, x1, digits=0)
        if m1:
            summary["resends"] = resends_of(chain, m0 if c0 else m1, m1)
        summary["tag"] = tag
        if not summary["ok"]:
            say("WARNING: run not ok: %s" % json.dumps({k: summary[k] for k in (
                "published", "answered", "errors", "key_failures", "unanswered")}))
        return summary

    @staticmethod
    def scrape_all(chain):
        """Every validator's resend and commit counters (scrape_counters), or None for a chain
        started without metrics ports."""
        ports = getattr(chain, "bench_mports", None)
        return [scrape_counters(p) for p in ports] if ports else None

    def record(self, run, **kw):
        run.update(kw)
        self.res["runs"].append(run)
        say("%s%s n=%s %s rate=%s: %.0f/s p50 %.1f p99 %.1f ms ok=%s" % (
            run.get("kind"), " " + run["side"] if run.get("side") else "", run.get("validators"), run["mode"], run["offered_rate"],
            run["rate"], run["latency_ms"]["p50"], run["latency_ms"]["p99"], run["ok"]) +
            (" validators %s us, %s context switches per reading, load1 %.1f" % (
                fmt(validators_us(run)), fmt(validators_ctx(run), "{:.2f}"), run["load1"])
             if validators_of(run) else "") +
            (" resends %s" % json.dumps(run["resends"]) if run.get("resends") else ""))

    # --- stages -----------------------------------------------------------------------------
    def store(self, when):
        d = os.path.join(self.root, "ledger_bench")
        out = subprocess.run([self.a.bin + "/ledger_bench", "--dir=" + d,
                              "--blocks=%d" % self.a.store_blocks],
                             capture_output=True, text=True, timeout=900).stdout
        # "...: N records/s[, X us CPU/record (Y with the flush at close)], block append p50 ..."
        m = re.search(r"store_append .*?: (\d+) records/s,(?: [^,]*?CPU/record[^,]*,)? "
                      r"block append p50 ([\d.]+) ms p99 ([\d.]+)", out)
        t.check(m is not None, "ledger_bench printed no store_append line:\n" + out)
        r = {"when": when, "records_per_s": int(m.group(1)), "p50_ms": float(m.group(2)),
             "p99_ms": float(m.group(3)), "load1": loadavg()[0]}
        self.res["store"].append(r)
        shutil.rmtree(d, ignore_errors=True)
        say("store_append (%s): %s" % (when, json.dumps(r)))

    def chain_stage(self, n, stages):
        a = self.a
        root = os.path.join(self.root, "v%d" % n)
        os.makedirs(root)
        say("chain of %d validators, bridge gw-1" % n)
        chain = t.Chain(root, n=n, chain_id="bench%d" % n)
        procs = Procs()
        procs.add("broker", self.broker.proc.pid)
        for i in range(n):
            chain.start(i)
            procs.add("v%d" % i, chain.procs[i].pid)
        chain.register(devices=("dev-1",))
        t.ctl("keygen", "--out=%s/gw-load.key" % root)
        t.ctl("register-gateway", "--id=gw-load", "--key=%s/gw-load.key" % root,
              "--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag())
        bridge = t.BridgeProc(chain, self.broker, extra=a.bridge_flags.split())
        bridge.start()
        procs.add("bridge", bridge.proc.pid)
        try:
            say("warm-up: register %d devices, one MAC and one signed round" % a.devices)
            self.gen("mac", procs, count=2, chain=chain, register=True, log="warmup")
            self.gen("sig", procs, count=2, chain=chain, log="warmup")
            self.gen("bare", procs, count=20, log="warmup")
            reps = a.reps if n == 4 else a.reps7
            for r in range(reps):
                for mode in ("bare", "mac", "sig"):
                    self.record(self.gen(mode, procs, chain=None if mode == "bare" else chain,
                                         duration=a.max_seconds),
                                kind="max", validators=n, rep=r)
            if a.fractions:
                for mode in ("bare", "mac", "sig"):
                    runs = [x for x in self.res["runs"] if x["kind"] == "max" and
                            x["validators"] == n and x["mode"] == mode]
                    top = med([x["rate"] for x in runs]) or 0
                    for f in a.fractions:
                        rate = int(top * f)
                        if rate < 10:
                            continue
                        count = max(10, int(rate * a.sweep_seconds / a.devices))
                        self.record(self.gen(mode, procs, count=count, rate=rate,
                                             chain=None if mode == "bare" else chain,
                                             duration=2 * a.sweep_seconds),
                                    kind="sweep", validators=n, fraction=f)
            if "cluster" in stages:
                self.cluster(chain, procs, n)
            if n == 4 and "large" in stages:
                self.large(chain, procs)
            if n == 4 and "profile" in stages:
                self.profile(chain, procs, bridge)
        finally:
            self.res.setdefault("bridge_stats", {})[str(n)] = bridge.stats()
            bridge.kill()
            chain.stop_all()
            for d in os.listdir(root):  # the stores; the logs stay for a look afterwards
                if os.path.isdir(os.path.join(root, d)):
                    shutil.rmtree(os.path.join(root, d), ignore_errors=True)

    def start_chain(self, name, n, bin_dir, prefix):
        """A chain of n validators and a bridge on `prefix`, from the binaries in bin_dir."""
        a = self.a
        t.LEDGER_NODE = bin_dir + "/ledger_node"
        t.MQTT_BRIDGE = bin_dir + "/mqtt_bridge"
        if not knows_insecure(t.LEDGER_NODE):
            t.PLAINTEXT_ONLY.update({t.LEDGER_NODE, t.MQTT_BRIDGE})
        root = os.path.join(self.root, name)
        os.makedirs(root)
        chain = t.Chain(root, n=n, chain_id="bench" + name)
        procs = Procs()
        procs.add("broker", self.broker.proc.pid)
        # Metrics ports: the resend counters per run (provledger_node_consensus_resends_total).
        chain.bench_mports = [t.free_port() for _ in range(n)]
        for i in range(n):
            chain.start(i, extra=["--metrics_listen=127.0.0.1:%d" % chain.bench_mports[i]])
            procs.add("v%d" % i, chain.procs[i].pid)
        # A gateway of its own: two bridges with one gateway id (one MQTT client id) on one
        # broker would take each other's connection over.
        chain.register(gateway="gw-" + prefix, devices=())
        bridge = t.BridgeProc(chain, self.broker, gateway="gw-" + prefix,
                              extra=["--topic_prefix=" + prefix] + a.bridge_flags.split())
        bridge.start()
        procs.add("bridge", bridge.proc.pid)
        t.LEDGER_NODE = a.bin + "/ledger_node"
        t.MQTT_BRIDGE = a.bin + "/mqtt_bridge"
        return root, chain, procs, bridge

    def ab_stage(self):
        """Before/after in one run: a 4-validator chain and bridge from --baseline_bin beside
        one from --bin, both idle but for the run at hand, the same generator; flat-out MAC
        and signed runs alternate between them (which goes first alternates by rep)."""
        a = self.a
        say("A/B: 4 validators from %s (base) against %s (new)" % (a.baseline_bin, a.bin))
        sides = {}
        try:
            for side, bin_dir in (("base", a.baseline_bin), ("new", a.bin)):
                sides[side] = self.start_chain("ab_" + side, 4, bin_dir, side)
            for side, (_, chain, procs, _) in sides.items():
                self.gen("mac", procs, count=2, chain=chain, register=True, prefix=side,
                         gateway="gw-" + side, log="warmup")
                self.gen("sig", procs, count=2, chain=chain, prefix=side, gateway="gw-" + side,
                         log="warmup")
            for r in range(a.reps):
                order = ("base", "new") if r % 2 == 0 else ("new", "base")
                for mode in ("mac", "sig"):
                    for side in order:
                        _, chain, procs, _ = sides[side]
                        self.record(self.gen(mode, procs, chain=chain, prefix=side,
                                             gateway="gw-" + side, duration=a.max_seconds),
                                    kind="ab", validators=4, rep=r, side=side)
        finally:
            for side, (root, chain, _, bridge) in sides.items():
                bridge.kill()
                chain.stop_all()

    def cluster(self, chain, procs, n):
        a = self.a
        cmd = [a.bin + "/cluster_load",
               "--nodes=" + ",".join(chain.addr(i) for i in range(len(chain.ids))),
               "--genesis=" + chain.genesis, "--gateway=gw-load",
               "--gateway_key=%s/gw-load.key" % chain.root, "--device=dev-1", "--threads=8",
               "--batch=500", "--seconds=%d" % a.cluster_seconds, "--json", "--insecure"]
        la = loadavg()
        c0 = procs.snap()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        c1 = procs.snap()
        j = None
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                j = json.loads(line)
        t.check(j is not None, "cluster_load printed nothing: %s" % p.stderr[-2000:])
        cpu = Procs.diff(c0, c1)
        j.update({"validators": n, "load1": la[0],
                  "validators_cpu_s": round(sum(v for k, v in cpu.items() if k.startswith("v")), 3)})
        self.res["cluster"].append(j)
        say("cluster_load n=%d: %s" % (n, json.dumps(j)))

    def large(self, chain, procs):
        a = self.a
        say("large payloads: 1 device, 1 reading/s")
        self.gen("mac", procs, devices=1, count=1, dev_prefix="big", conns=1, chain=chain,
                 register=True, log="warmup")
        for kb in LARGE_KB:
            size = kb * KB
            b = self.gen("bare", procs, devices=1, count=a.large_count, size=size, rate=1,
                         conns=1, dev_prefix="big")
            m = self.gen("mac", procs, devices=1, count=a.large_count, size=size, rate=1,
                         conns=1, dev_prefix="big", chain=chain)
            self.res["large"].append({"kb": kb, "bare": b, "mac": m})
            say("large %d KB: bare p50 %.1f ms, ledger p50 %.1f ms (%d/%d)" % (
                kb, b["latency_ms"]["p50"], m["latency_ms"]["p50"], m["answered"], m["published"]))

    def profile(self, chain, procs, bridge):
        a = self.a
        say("profile: perf record -a -g (the bridge and v1) under MAC load, %d s" % a.profile_seconds)
        targets = {"bridge": bridge.proc.pid, "validator": chain.procs[1].pid}
        # Enough readings to outlast the recording: the rate measured flat out, else a guess.
        est = med([r["rate"] for r in runs_of(self.res, "max", 4, "mac")]) or 5000
        count = max(10, int((a.profile_seconds + 5) * est / a.devices))
        load = threading.Thread(target=lambda: self.res["profile"].update(
            load=self.gen("mac", procs, count=count, chain=chain, log="profile",
                          duration=a.profile_seconds + 4)))
        load.start()
        time.sleep(2)
        # One system-wide recording, split by process afterwards: `perf record -p` of a
        # process whose threads come and go (gRPC's) loses its data now and then.
        data = os.path.join(self.root, "perf.data")
        with open(data + ".log", "w") as log:
            subprocess.run(["perf", "record", "-a", "-g", "-F", "499", "-o", data, "--",
                            "sleep", str(a.profile_seconds)], stdout=subprocess.DEVNULL,
                           stderr=log)
        load.join()
        os.makedirs(a.png_dir, exist_ok=True)
        cap = caption(dict(self.res["machine"], load_end=loadavg()))
        for name, pid in targets.items():
            text, top, ours = profile_text(data, pid, name, a.profile_seconds, cap)
            path = os.path.join(a.png_dir, "profile-%s.txt" % name)
            with open(path, "w") as f:
                f.write(text)
            self.res["profile"][name] = top
            self.res["profile"][name + "_inclusive"] = ours
            say("profile %s -> %s" % (name, path))

    def caption(self):
        return caption(self.res["machine"])

    def run(self):
        a = self.a
        stages = [s for s in a.stages.split(",") if s]
        self.res["machine"] = machine()
        self.res["commit"] = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"],
                                            capture_output=True, text=True).stdout.strip()[:100]
        say("machine: %s" % json.dumps(self.res["machine"]))
        t0 = time.time()
        if "store" in stages:
            self.store("start")
        say("Mosquitto (quickstart configuration)")
        self.broker = t.Mosquitto(self.root)
        try:
            if a.baseline_bin and "ab" in stages:
                self.ab_stage()
            for n in (4, 7):
                if "v%d" % n in stages:
                    self.chain_stage(n, stages)
        finally:
            self.broker.stop()
        if "store" in stages:
            self.store("end")
        self.res["machine"]["load_end"] = loadavg()
        self.res["wall_s"] = round(time.time() - t0)
        return self.res


def perf_samples(data, pid):
    """The call chains (leaf first) of process `pid`'s samples in `data`, each frame as
    (library, function). `perf report` of this perf (6.1) leaves the symbols of our own
    binaries unresolved ("build id ... not found"), so those come from addr2line here."""
    out = subprocess.run(["perf", "script", "-i", data, "--pid", str(pid), "-F", "ip,sym,dso"],
                         capture_output=True, text=True).stdout
    samples, cur = [], []
    for ln in out.splitlines() + [""]:
        m = re.match(r"\s*([0-9a-f]+) (.*) \((.*)\)$", ln)
        if m:
            cur.append((m.group(3), m.group(2), int(m.group(1), 16)))
        elif cur:
            samples.append(cur)
            cur = []
    unresolved = {}  # binary -> its unresolved addresses
    for chain in samples:
        for dso, sym, ip in chain:
            if sym.startswith("[unknown]") and os.path.basename(dso) in OUR_BINARIES:
                unresolved.setdefault(dso, set()).add(ip)
    names = {}
    for dso, ips in unresolved.items():
        ips = sorted(ips)
        res = subprocess.run(["addr2line", "-f", "-C", "-e", dso] + ["%x" % ip for ip in ips],
                             capture_output=True, text=True).stdout.splitlines()
        for ip, fn in zip(ips, res[0::2]):
            names[(dso, ip)] = fn
    def frame(dso, sym, ip):
        sym = names.get((dso, ip), sym)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        return os.path.basename(dso), short_symbol(sym)
    return [[frame(*f) for f in chain] for chain in samples]


OUR_BINARIES = ("ledger_node", "mqtt_bridge", "mqtt_load")


def short_symbol(sym):
    """`sym` without its argument list and template arguments (they run to pages in gRPC)."""
    sym = re.sub(r" const$", "", sym)
    if sym.endswith(")"):  # the argument list: back to its opening parenthesis
        depth = 0
        for i in range(len(sym) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(sym[i], 0)
            if depth == 0:
                sym = sym[:i]
                break
    while True:
        shorter = re.sub(r"<[^<>]*>", "<>", sym)
        if shorter == sym:
            return sym[:140]
        sym = shorter


def profile_text(data, pid, name, seconds, cap):
    """The profile file of one process: top 30 functions by self time, self time by library,
    and our functions (namespace provledger) by inclusive time, from the frame-pointer call
    chains (-c opt keeps frame pointers in our code; the system libraries have none, so a
    chain that starts in one may skip its callers). Returns (text, the top-30 self lines, the
    inclusive lines)."""
    samples = perf_samples(data, pid)
    n = len(samples) or 1
    self_by, dso_by, incl, ours_self = {}, {}, {}, {}
    for chain in samples:
        if not chain:
            continue
        self_by[chain[0]] = self_by.get(chain[0], 0) + 1
        dso_by[chain[0][0]] = dso_by.get(chain[0][0], 0) + 1
        for f in set(chain):
            incl[f] = incl.get(f, 0) + 1
    def rows(d, limit, fmt):
        top = sorted(d.items(), key=lambda kv: -kv[1])[:limit]
        return [fmt(k, v) for k, v in top]
    top = rows(self_by, 30, lambda k, v: "%7.2f%%  %s  %s" % (100.0 * v / n, k[0], k[1]))
    dso = rows(dso_by, 12, lambda k, v: "%7.2f%%  %s" % (100.0 * v / n, k))
    ours = rows({k: v for k, v in incl.items() if "provledger::" in k[1]}, 30,
                lambda k, v: "%7.2f%% %7.2f%%  %s" % (100.0 * v / n, 100.0 * self_by.get(k, 0) / n,
                                                    k[1]))
    text = ("# perf record -a -g -F 499, the %d samples of <%s> (pid %d), %d s under mqtt_load "
            "--mode=mac at full speed, 4 validators\n# %s\n\n"
            "## top 30 functions, self time (%% of this process's samples)\n"
            % (len(samples), name, pid, seconds, cap) + "\n".join(top) +
            "\n\n## self time by library\n" + "\n".join(dso) +
            "\n\n## our functions by inclusive time (children %, self %)\n"
            + "\n".join(ours) + "\n")
    return text, top, ours


# --- rendering ----------------------------------------------------------------------------
def caption(m):
    return ("machine of this run: %s x %s, %s GiB; `openssl speed -evp sha256` (16 KiB) %s MB/s; "
            "load average %s at the start, %s at the end (other work on the machine); %s" % (
                m["nproc"], m["cpu"], m["mem_gib"],
                "%.0f" % m["sha256_mb_s"] if m.get("sha256_mb_s") else "?",
                "/".join("%.1f" % x for x in m["load_start"]),
                "/".join("%.1f" % x for x in m.get("load_end", m["load_start"])), m["date"]))


def fmt(x, spec="{:,.0f}"):
    return "-" if x is None else spec.format(x)


def runs_of(res, kind, n, mode):
    return [r for r in res["runs"] if r["kind"] == kind and r["validators"] == n and r["mode"] == mode]


def per_reading_us(run, names):
    n = run["answered"]
    if not n:
        return None
    return sum(run["cpu"].get(k, 0.0) for k in names) * 1e6 / n


def validators_of(run):
    return sorted((k for k in run["cpu"] if re.match(r"v\d+$", k)), key=lambda k: int(k[1:]))


def ledger_us(run):
    return per_reading_us(run, ["bridge"] + validators_of(run))


def validators_us(run):
    return per_reading_us(run, validators_of(run))


def validators_ctx(run):
    """The validators' context switches per answered reading (None for runs without them)."""
    ctx = run.get("ctx") or {}
    if not run["answered"] or not ctx:
        return None
    return sum(ctx.get(k, 0) for k in validators_of(run)) / run["answered"]


def tables(res):
    """NAME -> markdown for every table."""
    out = {}
    m = res["machine"]
    cap = "\n_%s._\n" % caption(m)
    cfg = res["config"]
    ns = sorted({r["validators"] for r in res["runs"]})
    bare4 = med([r["rate"] for r in runs_of(res, "max", 4, "bare")])

    rows = ["| | |", "|---|---|",
            "| date | %s |" % m["date"], "| commit | %s |" % res.get("commit", "?"),
            "| CPUs (`nproc`) | %s |" % m["nproc"], "| CPU model | %s |" % m["cpu"],
            "| memory | %s GiB |" % m["mem_gib"], "| OpenSSL | %s |" % m["openssl"],
            "| `openssl speed -evp sha256`, 16 KiB blocks | %s MB/s |" % fmt(m.get("sha256_mb_s")),
            "| load average (1/5/15 min) at start / end | %s / %s |" % (
                "/".join("%.2f" % x for x in m["load_start"]),
                "/".join("%.2f" % x for x in m.get("load_end", m["load_start"]))),
            "| suite wall time | %s s (%s)%s |" % (
                res.get("wall_s", "?"), "--quick" if cfg.get("quick") else "full",
                "; STOPPED EARLY: " + res["incomplete"] if res.get("incomplete") else ""),
            "| generator | `mqtt_load`: %d devices x %d QoS 1 readings of %d B over %d "
            "libmosquitto connections, at most %d unanswered per connection |" % (
                cfg["devices"], cfg["count"], cfg["payload_size"], cfg["connections"],
                cfg["window"])]
    out["machine"] = "\n".join(rows) + "\n"

    # Aims.
    def ratio(n, mode):
        r = med([x["rate"] for x in runs_of(res, "max", n, mode)])
        b = med([x["rate"] for x in runs_of(res, "max", n, "bare")])
        return r / b if r and b else None

    def us(n, mode):
        return med([ledger_us(x) for x in runs_of(res, "max", n, mode)])

    def p99_half(n, mode):
        rs = [x for x in runs_of(res, "sweep", n, mode) if x.get("fraction") == 0.5]
        return med([x["latency_ms"]["p99"] for x in rs])

    cl4 = med([c["records_per_s"] for c in res["cluster"] if c["validators"] == 4])
    st = med([s["records_per_s"] for s in res["store"]])
    big = [x for x in res["large"] if x["kb"] == 1000]
    rows = ["| measure | this run | aim (issue 16) |", "|---|---|---|",
            "| bridge path / bare Mosquitto, same generator and run, MAC / signed (4 validators) "
            "| %s / %s | >= 0.5 |" % (fmt(ratio(4, "mac"), "{:.3f}"), fmt(ratio(4, "sig"), "{:.3f}")),
            "| CPU us per committed reading, bridge + 4 validators, MAC / signed | %s / %s | "
            "<= 60 / <= 90 |" % (fmt(us(4, "mac")), fmt(us(4, "sig"))),
            "| 4-validator committed records/s (cluster_load) / one store's append records/s "
            "(ledger_bench store_append) | %s (%s / %s) | >= 0.45 |" % (
                fmt(cl4 / st if cl4 and st else None, "{:.3f}"), fmt(cl4), fmt(st)),
            "| p99 publish -> commit ack at half the maximum load, MAC / signed (4 validators) "
            "| %s / %s ms | <= 100 ms |" % (fmt(p99_half(4, "mac"), "{:.1f}"),
                                             fmt(p99_half(4, "sig"), "{:.1f}")),
            "| 1,000 KB reading, publish -> commit ack p50 (bare publish -> receive) | %s ms (%s ms) "
            "| <= 30 ms |" % (fmt(big[0]["mac"]["latency_ms"]["p50"] if big else None, "{:.1f}"),
                              fmt(big[0]["bare"]["latency_ms"]["p50"] if big else None, "{:.1f}"))]
    def per_rep(n, mode):
        pairs = zip(runs_of(res, "max", n, "bare"), runs_of(res, "max", n, mode))
        return ", ".join("%.3f" % (m["rate"] / b["rate"]) for b, m in pairs if b["rate"])
    if len(runs_of(res, "max", 4, "bare")) > 1:
        rows.append("| bridge / bare per rep (each against the bare run just before it), MAC; "
                    "signed | %s; %s | |" % (per_rep(4, "mac"), per_rep(4, "sig")))
    if 7 in ns:
        rows.append("| the same, 7 validators: bridge / bare MAC / signed; CPU us bridge + 7 "
                    "validators MAC / signed | %s / %s; %s / %s | |" % (
                        fmt(ratio(7, "mac"), "{:.3f}"), fmt(ratio(7, "sig"), "{:.3f}"),
                        fmt(us(7, "mac")), fmt(us(7, "sig"))))
    out["aims"] = "\n".join(rows) + "\n" + cap

    # Before/after (stage ab).
    rows = ["| readings | base: answered/s (runs) | new: answered/s (runs) | new / base, per rep "
            "| ledger CPU us/reading base -> new | of which 4 validators | validators' context "
            "switches/reading | p50 ms base -> new | load1 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for mode in ("mac", "sig"):
        base = [r for r in res["runs"] if r["kind"] == "ab" and r["mode"] == mode and
                r["side"] == "base"]
        new = [r for r in res["runs"] if r["kind"] == "ab" and r["mode"] == mode and
               r["side"] == "new"]
        if not base or not new:
            continue
        rows.append("| %s | %s (%s) | %s (%s) | %s | %s -> %s | %s -> %s | %s -> %s | %s -> %s "
                    "| %s |" % (
            mode, fmt(med([r["rate"] for r in base])), "; ".join(fmt(r["rate"]) for r in base),
            fmt(med([r["rate"] for r in new])), "; ".join(fmt(r["rate"]) for r in new),
            ", ".join("%.2f" % (n_["rate"] / b["rate"]) for b, n_ in zip(base, new) if b["rate"]),
            fmt(med([ledger_us(r) for r in base])), fmt(med([ledger_us(r) for r in new])),
            fmt(med([validators_us(r) for r in base])), fmt(med([validators_us(r) for r in new])),
            fmt(med([validators_ctx(r) for r in base]), "{:.2f}"),
            fmt(med([validators_ctx(r) for r in new]), "{:.2f}"),
            fmt(med([r["latency_ms"]["p50"] for r in base]), "{:.1f}"),
            fmt(med([r["latency_ms"]["p50"] for r in new]), "{:.1f}"),
            "; ".join("%.1f" % r["load1"] for r in base + new)))
    if len(rows) > 2:
        out["ab"] = ("Baseline binaries `%s` (base) against `%s` (new), 4 validators each, flat "
                     "out, alternating:\n\n" % (cfg.get("baseline_bin"), cfg.get("bin")) +
                     "\n".join(rows) + "\n" + cap)
    else:
        out["ab"] = "(no before/after stage in this run: `ops/bench.sh --baseline_bin=DIR`)\n"

    # Throughput against offered load.
    rows = ["| validators | path | offered readings/s | answered readings/s (median; runs) | "
            "/ bare | p50 ms | p95 ms | p99 ms | not ok | load1 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    label = {"bare": "bare Mosquitto, publish -> receive", "mac": "bridge, MAC, publish -> commit ack",
             "sig": "bridge, signed, publish -> commit ack"}
    for n in ns:
        b = med([r["rate"] for r in runs_of(res, "max", n, "bare")])
        for mode in ("bare", "mac", "sig"):
            for kind in ("max", "sweep"):
                groups = {}
                for r in runs_of(res, kind, n, mode):
                    groups.setdefault(r["offered_rate"], []).append(r)
                for off in sorted(groups, key=lambda o: (o == 0, o)):
                    rs = groups[off]
                    rate = med([r["rate"] for r in rs])
                    rows.append("| %d | %s | %s | %s (%s) | %s | %s | %s | %s | %d | %s |" % (
                        n, label[mode], "flat out" if off == 0 else fmt(off), fmt(rate),
                        "; ".join(fmt(r["rate"]) for r in rs),
                        fmt(rate / b if rate and b else None, "{:.3f}"),
                        fmt(med([r["latency_ms"]["p50"] for r in rs]), "{:.1f}"),
                        fmt(med([r["latency_ms"]["p95"] for r in rs]), "{:.1f}"),
                        fmt(med([r["latency_ms"]["p99"] for r in rs]), "{:.1f}"),
                        sum(1 for r in rs if not r["ok"]),
                        "; ".join("%.1f" % r["load1"] for r in rs)))
    out["throughput"] = "\n".join(rows) + "\n" + cap

    rows = ["| validators | path | offered readings/s (half the flat-out median) | answered/s | "
            "p50 ms | p95 ms | p99 ms | max ms | load1 |", "|---|---|---|---|---|---|---|---|---|"]
    for n in ns:
        for mode in ("bare", "mac", "sig"):
            for r in [x for x in runs_of(res, "sweep", n, mode) if x.get("fraction") == 0.5]:
                lm = r["latency_ms"]
                rows.append("| %d | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                    n, label[mode], fmt(r["offered_rate"]), fmt(r["rate"]), lm["p50"], lm["p95"],
                    lm["p99"], lm["max"], r["load1"]))
    out["latency"] = "\n".join(rows) + "\n" + cap

    rows = ["| validators | path | generator | broker | bridge | each validator | validators "
            "together | ledger path (bridge + validators) | all | load1 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for n in ns:
        for mode in ("bare", "mac", "sig"):
            rs = runs_of(res, "max", n, mode)
            if not rs:
                continue
            vs = validators_of(rs[0])
            each = " / ".join(fmt(med([per_reading_us(r, [v]) for r in rs])) for v in vs)
            rows.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                n, label[mode], fmt(med([per_reading_us(r, ["generator"]) for r in rs])),
                fmt(med([per_reading_us(r, ["broker"]) for r in rs])),
                fmt(med([per_reading_us(r, ["bridge"]) for r in rs])) if mode != "bare" else "(idle)",
                each if mode != "bare" else "(idle)",
                fmt(med([per_reading_us(r, vs) for r in rs])) if mode != "bare" else "(idle)",
                fmt(med([ledger_us(r) for r in rs])) if mode != "bare" else "-",
                fmt(med([per_reading_us(r, list(r["cpu"])) for r in rs])),
                "; ".join("%.1f" % r["load1"] for r in rs)))
    out["cpu"] = ("CPU microseconds per answered reading (user + system time from /proc/PID/stat "
                  "over the measured phase, divided by the readings answered), full-speed runs, "
                  "median of the runs:\n\n" + "\n".join(rows) + "\n" + cap)

    rows = ["| payload | bare p50 ms | bare max ms | ledger (MAC, 4 validators) p50 ms | "
            "ledger max ms | acked | load1 |", "|---|---|---|---|---|---|---|"]
    for x in res["large"]:
        b, l = x["bare"], x["mac"]
        rows.append("| %s KB | %.1f | %.1f | %.1f | %.1f | %d/%d | %.1f |" % (
            format(x["kb"], ","), b["latency_ms"]["p50"], b["latency_ms"]["max"],
            l["latency_ms"]["p50"], l["latency_ms"]["max"], l["acked_recorded"], l["published"],
            l["load1"]))
    out["large"] = ("One device, one reading a second, %d readings per size (publish -> commit "
                    "ack; bare: publish -> receive):\n\n" % cfg["large_count"] +
                    "\n".join(rows) + "\n" + cap)

    rows = ["| figure | records/s | p50 ms | p99 ms | validators' CPU us/record | load1 |",
            "|---|---|---|---|---|---|"]
    for s in res["store"]:
        rows.append("| ledger_bench store_append (%s of the suite), 1,000-record blocks, synced "
                    "| %s | %.2f | %.2f | | %.1f |" % (s["when"], fmt(s["records_per_s"]),
                                                      s["p50_ms"], s["p99_ms"], s["load1"]))
    for c in res["cluster"]:
        rows.append("| cluster_load, %d validators, 8 threads x 500-record batches, %d s "
                    "| %s | %.1f | %.1f | %s | %.1f |" % (
                        c["validators"], c["seconds"], fmt(c["records_per_s"]), c["p50_us"] / 1000,
                        c["p99_us"] / 1000,
                        fmt(c["validators_cpu_s"] * 1e6 / c["committed_records"]
                            if c.get("committed_records") else None), c["load1"]))
    if cl4 and st:
        rows.append("| ratio: 4-validator cluster_load / store_append (median) | %.3f | | | | |"
                    % (cl4 / st))
    out["store"] = "\n".join(rows) + "\n" + cap

    prof = res.get("profile") or {}
    if prof.get("bridge") or prof.get("validator"):
        rows = []
        for name in ("bridge", "validator"):
            rows.append("%s, top 10 by self time, then our top 12 by inclusive time "
                        "(children %%, self %%; `docs/bench/profile-%s.txt` has more):\n"
                        % (name.capitalize(), name))
            rows.append("```")
            rows += prof.get(name, [])[:10]
            rows.append("")
            rows += prof.get(name + "_inclusive", [])[:12]
            rows.append("```")
        out["profile"] = "\n".join(rows) + "\n" + cap
    else:
        out["profile"] = "(no profile stage in this run)\n"
    return out


def write_doc(doc, parts):
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    for name in TABLES:
        body = parts.get(name)
        if body is None:
            continue
        begin, end = "<!-- bench:begin %s -->" % name, "<!-- bench:end %s -->" % name
        block = "%s\n%s%s" % (begin, body if body.endswith("\n") else body + "\n", end)
        if begin in text and end in text:
            text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(doc, "w") as f:
        f.write(text)


def plots(res, png_dir):
    """PNGs with gnuplot; returns the files written (none without gnuplot)."""
    if not shutil.which("gnuplot"):
        say("no gnuplot: plots skipped")
        return []
    os.makedirs(png_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="plbench_plot")
    ns = sorted({r["validators"] for r in res["runs"]})
    cap = caption(res["machine"]).replace('"', "'").replace("`", "")  # ` runs a command in gnuplot
    term = 'set terminal pngcairo size 1000,560 font ",10"\n'
    cap = cap.replace("; load average", ";\\nload average", 1)  # two lines
    foot = 'set label 99 "%s" at screen 0.01,0.045 font ",7"\n' % cap
    written = []

    # Throughput against offered load: flat-out runs at x = their own rate.
    series = []
    for n in ns:
        for mode in ("bare", "mac", "sig"):
            pts = [(r["offered_rate"], r["rate"]) for r in runs_of(res, "sweep", n, mode)]
            mx = med([r["rate"] for r in runs_of(res, "max", n, mode)])
            if mx:
                pts.append((mx, mx))
            if not pts:
                continue
            f = os.path.join(tmp, "tput_%d_%s.dat" % (n, mode))
            with open(f, "w") as fh:
                for x, y in sorted(pts):
                    fh.write("%f %f\n" % (x, y))
            series.append((f, "%s, %d validators" % (mode, n) if mode != "bare" else
                           "bare Mosquitto (chain of %d idle)" % n))
    if series:
        path = os.path.join(png_dir, "throughput.png")
        script = term + foot + ('set output "%s"\nset title "Answered readings/s against offered '
                                'load (flat-out runs plotted at offered = answered)"\n'
                                'set xlabel "offered readings/s"\nset ylabel "answered readings/s"\n'
                                'set logscale xy\nset key top left\nset grid\nset bmargin 5\n' % path)
        script += "plot " + ", ".join('"%s" using 1:2 with linespoints title "%s"' % s for s in series)
        gp(script, tmp)
        written.append(path)

    # Latency at half load.
    f = os.path.join(tmp, "lat.dat")
    with open(f, "w") as fh:
        for n in ns:
            for mode in ("bare", "mac", "sig"):
                for r in [x for x in runs_of(res, "sweep", n, mode) if x.get("fraction") == 0.5]:
                    lm = r["latency_ms"]
                    fh.write('"%s %d" %f %f %f\n' % (mode, n, lm["p50"], lm["p95"], lm["p99"]))
    if os.path.getsize(f):
        path = os.path.join(png_dir, "latency.png")
        gp(term + foot + 'set output "%s"\nset title "Publish -> ack (bare: -> receive) at half '
           'the flat-out rate"\nset ylabel "ms"\nset key outside right top\nset logscale y\nset style data histograms\n'
           'set style histogram clustered gap 1\nset style fill solid 0.8\nset grid y\n'
           'set bmargin 5\nplot "%s" using 2:xtic(1) title "p50", "" using 3 title "p95", '
           '"" using 4 title "p99"' % (path, f), tmp)
        written.append(path)

    # CPU per reading by process.
    f = os.path.join(tmp, "cpu.dat")
    with open(f, "w") as fh:
        for n in ns:
            for mode in ("bare", "mac", "sig"):
                rs = runs_of(res, "max", n, mode)
                if rs:
                    vs = validators_of(rs[0])
                    fh.write('"%s %d" %f %f %f %f\n' % (
                        mode, n, med([per_reading_us(r, ["generator"]) for r in rs]) or 0,
                        med([per_reading_us(r, ["broker"]) for r in rs]) or 0,
                        med([per_reading_us(r, ["bridge"]) for r in rs]) or 0,
                        med([per_reading_us(r, vs) for r in rs]) or 0))
    if os.path.getsize(f):
        path = os.path.join(png_dir, "cpu.png")
        gp(term + foot + 'set output "%s"\nset title "CPU microseconds per answered reading, by '
           'process (flat-out runs)"\nset ylabel "us per reading"\nset key outside right top\nset style data histograms\n'
           'set style histogram rowstacked\nset style fill solid 0.8\nset boxwidth 0.6\n'
           'set grid y\nset bmargin 5\nplot "%s" using 2:xtic(1) title "generator", "" using 3 '
           'title "broker", "" using 4 title "bridge", "" using 5 title "validators"' % (path, f),
           tmp)
        written.append(path)

    if res["large"]:
        f = os.path.join(tmp, "large.dat")
        with open(f, "w") as fh:
            for x in res["large"]:
                fh.write("%d %f %f\n" % (x["kb"], x["bare"]["latency_ms"]["p50"],
                                         x["mac"]["latency_ms"]["p50"]))
        path = os.path.join(png_dir, "large.png")
        gp(term + foot + 'set output "%s"\nset title "One large reading: publish -> commit ack '
           '(4 validators, MAC) and bare publish -> receive, p50"\nset xlabel "payload KB"\n'
           'set ylabel "ms"\nset grid\nset key top left\nset bmargin 5\n'
           'plot "%s" using 1:3 with linespoints title "ledger", "" using 1:2 with linespoints '
           'title "bare Mosquitto"' % (path, f), tmp)
        written.append(path)
    shutil.rmtree(tmp, ignore_errors=True)
    return written


def gp(script, tmp):
    f = os.path.join(tmp, "plot.gp")
    with open(f, "w") as fh:
        fh.write(script + "\n")
    p = subprocess.run(["gnuplot", f], capture_output=True, text=True)
    if p.returncode != 0:
        say("gnuplot failed: %s" % p.stderr[-1000:])


def render(res, doc, png_dir, only=None, with_plots=True):
    parts = tables(res)
    write_doc(doc, {k: v for k, v in parts.items() if not only or k in only})
    files = plots(res, png_dir) if with_plots else []
    say("wrote %s and %s" % (doc, ", ".join(files) or "no plots"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("PL_BENCH_BIN", "/tmp/provledger-bench-bin"))
    ap.add_argument("--dir", default="", help="run folder (default: a new one under /tmp)")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--png_dir", default=os.path.join(ROOT, "docs", "bench"))
    ap.add_argument("--results", default="", help="results JSON (default: <png_dir>/results.json)")
    ap.add_argument("--render_only", default="", help="re-render from this results JSON")
    ap.add_argument("--quick", action="store_true", help="a few-minute run: fewer readings, 1 rep")
    ap.add_argument("--stages", default="store,ab,v4,v7,cluster,large,profile")
    ap.add_argument("--baseline_bin", default="",
                    help="binaries of a baseline (say, before a change): stage ab runs them "
                         "beside --bin's, alternating, in this run")
    ap.add_argument("--devices", type=int, default=64)
    ap.add_argument("--count", type=int, default=2000, help="readings per device, flat-out runs")
    ap.add_argument("--payload_size", type=int, default=256)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--window", type=int, default=1000, help="unanswered readings per connection")
    ap.add_argument("--answer_timeout_s", type=int, default=180,
                    help="a run waits this long after its last publish for the answers")
    ap.add_argument("--max_seconds", type=int, default=60,
                    help="a flat-out run publishes for at most this long (a loaded machine)")
    ap.add_argument("--reps", type=int, default=3, help="flat-out reps, 4 validators")
    ap.add_argument("--reps7", type=int, default=1, help="flat-out reps, 7 validators")
    ap.add_argument("--fractions", default="0.25,0.5,0.75", help="offered load sweep")
    ap.add_argument("--sweep_seconds", type=int, default=10)
    ap.add_argument("--cluster_seconds", type=int, default=10)
    ap.add_argument("--large_count", type=int, default=5)
    ap.add_argument("--store_blocks", type=int, default=50)
    ap.add_argument("--profile_seconds", type=int, default=15)
    ap.add_argument("--bridge_flags", default="")
    ap.add_argument("--tables", default="", help="write only these tables (comma-separated: %s)"
                    % ",".join(TABLES))
    ap.add_argument("--no_plots", action="store_true")
    a = ap.parse_args()
    results = a.results or os.path.join(a.png_dir, "results.json")
    only = [x for x in a.tables.split(",") if x]
    if a.render_only:
        render(json.load(open(a.render_only)), a.doc, a.png_dir, only, not a.no_plots)
        return
    if a.quick:
        a.devices, a.count, a.reps, a.reps7 = min(a.devices, 16), min(a.count, 500), 1, 1
        a.fractions, a.sweep_seconds, a.cluster_seconds, a.max_seconds = "0.5", 5, 5, 15
        a.large_count, a.store_blocks, a.profile_seconds = 2, 20, 8
    a.fractions = [float(x) for x in a.fractions.split(",") if x]
    for b in ("ledger_node", "ledgerctl", "mqtt_bridge", "mqtt_load", "ledger_bench",
              "cluster_load"):
        t.check(os.path.exists(os.path.join(a.bin, b)),
                "missing %s/%s: run ops/bench.sh, which builds it" % (a.bin, b))
    if a.baseline_bin:
        for b in ("ledger_node", "mqtt_bridge"):
            t.check(os.path.exists(os.path.join(a.baseline_bin, b)),
                    "missing %s/%s (--baseline_bin)" % (a.baseline_bin, b))
    t.LEDGER_NODE = a.bin + "/ledger_node"
    t.LEDGERCTL = a.bin + "/ledgerctl"
    t.MQTT_BRIDGE = a.bin + "/mqtt_bridge"
    if not a.dir:
        a.dir = tempfile.mkdtemp(prefix="plbench_suite.")
    os.makedirs(a.dir, exist_ok=True)
    say("run folder %s" % a.dir)
    suite = Suite(a)
    res = suite.res
    try:
        suite.run()
    except BaseException as e:  # t.fail exits; a crash or ^C too: keep what was measured
        res["incomplete"] = str(e)[:300] if isinstance(e, SuiteFailure) else "%s: %s" % (
            type(e).__name__, e)
        say("suite stopped early (%s): writing what it measured" % res["incomplete"])
        res.setdefault("machine", {}).setdefault("load_end", loadavg())
        if "machine" not in res or "nproc" not in res["machine"]:
            raise
    os.makedirs(os.path.dirname(results) or ".", exist_ok=True)
    with open(results, "w") as f:
        json.dump(res, f, indent=1)
    render(res, a.doc, a.png_dir, only, not a.no_plots)
    say("suite wall time %s s; results %s" % (res.get("wall_s", "?"), results))
    if res.get("incomplete"):
        sys.exit(1)


if __name__ == "__main__":
    main()
