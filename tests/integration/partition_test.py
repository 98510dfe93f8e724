"""A silently partitioned validator: four real ledger_node validators, each in its own network
namespace, joined by a Linux bridge in a test-owned hub namespace (10.77.0.0/24 exists only
inside namespaces this test creates; nothing leaves the machine). Mosquitto, the MQTT bridge,
device_sim and ledgerctl run in the hub namespace.

While devices publish at a steady rate, one node's packets are dropped with nft rules inside its
namespace (no RST, no FIN): in turn the node the bridge talks to (a backup), the primary (the
bridge talks to a backup), and the primary that is also the bridge's node. For each cut the test
measures, per device, the seconds from the cut until the first acknowledgement of a reading
published after the cut, asserts the worst device resumes within BOUND_FACTOR x
--view_change_timeout_ms, and checks that every acknowledged reading is on the ledger, at the
height its acknowledgement named, exactly once.

Runs as root only: skipped (exit 0, "SKIPPED: ...") where the machine forbids network
namespaces. Namespaces carry a per-run prefix; they, the bridge and the nft tables go away at
exit, pass or fail (the nft tables and veths live inside the namespaces)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pltest as t

N = 4
VIEW_CHANGE_MS = 1000
BOUND_FACTOR = 5  # acks must resume within BOUND_FACTOR x VIEW_CHANGE_MS after a cut
SUBMIT_TIMEOUT_MS = 3 * VIEW_CHANGE_MS  # the bridge's --submit_timeout_ms
SUBNET = "10.77.0"
HUB_ADDR = SUBNET + ".254"
NODE_PORT = 7000
DEVICES = 4
RATE = 10          # readings/s per device
PUBLISH_S = 30     # seconds of publishing per scenario
CUT_TABLE = t.CUT_TABLE


def run(*args, check=True):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: rc=%d %s" % (" ".join(map(str, args)), p.returncode,
                                             p.stderr.strip()))
    return p


# ---------------------------------------------------------------------------------------------
# Outside: in the root namespace, make the namespaces, run the test inside the hub, clean up.

class Topology:
    def __init__(self, prefix):
        self.prefix = prefix
        self.hub = prefix + "h"
        self.nodes = ["%sn%d" % (prefix, i) for i in range(N)]
        self.made = []

    def add_ns(self, name):
        run("ip", "netns", "add", name)
        self.made.append(name)

    def build(self):
        for ns in self.nodes:
            self.add_ns(ns)
        hub = ["ip", "-n", self.hub]
        run(*hub, "link", "set", "lo", "up")
        run(*hub, "link", "add", "br0", "type", "bridge")
        run(*hub, "addr", "add", HUB_ADDR + "/24", "dev", "br0")
        run(*hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.nodes):
            # Made inside the hub with its peer inside the node: nothing touches the root
            # namespace's links.
            run(*hub, "link", "add", "p%d" % i, "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            run(*hub, "link", "set", "p%d" % i, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", "%s.%d/24" % (SUBNET, i + 1), "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def destroy(self):
        # A namespace lives on while a process runs in it: kill those first.
        for ns in reversed(self.made):
            pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for ns in reversed(self.made):
            for _ in range(50):
                if run("ip", "netns", "del", ns, check=False).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                print("[test] could not delete namespace %s" % ns, flush=True)
        self.made = []


def skip(why):
    print("SKIPPED: partition_test: %s" % why, flush=True)
    sys.exit(0)


def outside():
    if os.geteuid() != 0:
        skip("network namespaces need root (running as uid %d)" % os.geteuid())
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables"), ("mosquitto_sub", "mosquitto-clients")):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            t.fail("%s not found: install %s (ops/install_deps.sh)" % (tool, pkg))
    prefix = "pl%06x" % random.randrange(1 << 24)
    topo = Topology(prefix)
    try:
        topo.add_ns(topo.hub)
    except RuntimeError as e:
        skip("this machine forbids network namespaces (ip netns add failed: %s)" % e)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rc = 1
    try:
        try:
            topo.build()
        except RuntimeError as e:
            t.fail("building the namespaces: %s" % e)
        t.log("namespaces %s: hub %s, nodes %s" % (prefix, topo.hub, " ".join(topo.nodes)))
        rc = subprocess.call(["ip", "netns", "exec", topo.hub, sys.executable,
                              os.path.abspath(__file__), "--inside", prefix])
    finally:
        topo.destroy()
        left = [ns for ns in run("ip", "netns", "list", check=False).stdout.split()
                if ns.startswith(prefix)]
        if left:
            print("FAIL: namespaces left behind: %s" % left, flush=True)
            rc = rc or 1
    sys.exit(rc)


# ---------------------------------------------------------------------------------------------
# Inside: in the hub namespace.

def node_ns(prefix, i):
    return "%sn%d" % (prefix, i)


class NsChain(t.Chain):
    """A Chain whose validator i listens on 10.77.0.(i+1):7000 inside namespace `ns[i]`."""

    def __init__(self, root, prefix, chain_id):
        self.root = root
        self.prefix = prefix
        self.ids = ["v%d" % i for i in range(N)]
        for v in self.ids:
            t.ctl("keygen", "--out=%s/%s.key" % (root, v))
        t.ctl("keygen", "--out=%s/admin.key" % root)
        args = ["genesis", "--chain_id=" + chain_id, "--out=%s/genesis.json" % root,
                "--admin=%s/admin.key" % root]
        for i, v in enumerate(self.ids):
            args.append("--validator=%s:%s/%s.key:%s" % (v, root, v, self.addr(i)))
        t.ctl(*args)
        self.genesis = root + "/genesis.json"
        self.procs = {}

    def addr(self, i=0):
        return "%s.%d:%d" % (SUBNET, i + 1, NODE_PORT)

    def start(self, i=0, extra=()):
        v = self.ids[i]
        logf = open("%s/%s.log" % (self.root, v), "a")
        p = t.spawn(["ip", "netns", "exec", node_ns(self.prefix, i), t.LEDGER_NODE,
                     "--genesis=" + self.genesis, "--node_id=" + v,
                     "--key=%s/%s.key" % (self.root, v), "--data_dir=%s/%s" % (self.root, v)] +
                    list(extra), stdout=logf, stderr=subprocess.STDOUT)
        self.procs[i] = p
        t.wait_for(lambda: self.status(i) is not None, 30, "node %s to answer" % v)
        return p

    def nodes_flag_without(self, cut):
        return "--node=" + ",".join(self.addr(i) for i in range(N) if i != cut)


class Ordered:
    """The chain as BridgeProc sees it, with the node addresses in `order` (the bridge talks
    to the first one until it fails)."""

    def __init__(self, chain, order):
        self.chain, self.order = chain, order
        self.root, self.ids = chain.root, chain.ids

    def addr(self, i):
        return self.chain.addr(self.order[i])


def cut(prefix, i):
    """Drops every packet to and from node i's link, silently (no RST, no FIN)."""
    p = subprocess.run(["ip", "netns", "exec", node_ns(prefix, i), "nft", "-f", "-"],
                       input=t.nft_cut_rules("eth0"), capture_output=True, text=True)
    t.check(p.returncode == 0, "nft drop rules in node %d's namespace: %s" % (i, p.stderr))


def heal(prefix, i):
    run("ip", "netns", "exec", node_ns(prefix, i), "nft", "delete", "table", "inet", CUT_TABLE,
        check=False)


class Tap:
    """mosquitto_sub on devices/#: the time each reading reached the broker and each ack."""

    def __init__(self, root, broker, name):
        self.path = os.path.join(root, "tap-%s.jsonl" % name)
        self.proc = t.spawn(["stdbuf", "-oL", shutil.which("mosquitto_sub") or "mosquitto_sub",
                             "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5",
                             "-q", "1", "-t", "devices/#", "-F", "%U|%j"],
                            stdout=open(self.path, "w"), stderr=subprocess.STDOUT)
        time.sleep(0.5)  # subscribed before the devices start

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def parse(self):
        """-> (published {(device, seq): time}, acked {(device, seq): (time, height)}, errors)"""
        published, acked, errors = {}, {}, []
        for line in open(self.path, errors="replace"):
            stamp, _, js = line.rstrip("\n").partition("|")
            try:
                when = float(stamp)
                m = json.loads(js)
            except ValueError:
                continue
            parts = m.get("topic", "").split("/")
            if len(parts) < 4 or parts[2] != "data":
                continue
            device = parts[1]
            if len(parts) == 4:
                props = m.get("properties", {}).get("user-properties", {})
                if "pl-seq" in props:
                    published.setdefault((device, int(props["pl-seq"])), when)
                continue
            body = m.get("payload")
            if isinstance(body, str):
                try:
                    body = json.loads(body)
                except ValueError:
                    continue
            if parts[4] == "error":
                errors.append((device, body))
            elif parts[4] in ("success", "datas") and body.get("recorded"):
                for s in body.get("seqs", [body.get("seq")]):
                    acked.setdefault((device, int(s)), (when, body.get("height")))
        return published, acked, errors

    def acks(self):
        return len(self.parse()[1])


def resume_seconds(published, acked, t_cut):
    """Per device: seconds from the cut to the first ack of a reading published after it."""
    out = {}
    for (device, seq), (when, _) in acked.items():
        if published.get((device, seq), 0) > t_cut and when > t_cut:
            out[device] = min(out.get(device, float("inf")), when - t_cut)
    return out


def scenario(prefix, broker, name, pick):
    """One fresh cluster; `pick(primary)` -> (bridge's first node, node to cut)."""
    root = t.tmpdir("partition-" + name)
    chain = NsChain(root, prefix, "part-" + name)
    extra = ["--view_change_timeout_ms=%d" % VIEW_CHANGE_MS]
    for i in range(N):
        chain.start(i, extra)
    chain.register(devices=())
    st = chain.status(0)
    primary = chain.ids.index(st["primary"])
    first, victim = pick(primary)
    order = [(first + k) % N for k in range(N)]
    bridge = t.BridgeProc(Ordered(chain, order), broker, name=name,
                          extra=["--submit_timeout_ms=%d" % SUBMIT_TIMEOUT_MS,
                                 "--client_id=pl-" + name])
    bridge.start()
    tap = Tap(root, broker, name)
    sim_log = open(os.path.join(root, "device_sim.log"), "w")
    sim = t.spawn([t.DEVICE_SIM, "--broker=" + broker.uri(), "--keys_dir=%s/devkeys" % root,
                   "--genesis=" + chain.genesis, "--admin_key=%s/admin.key" % root,
                   chain.nodes_flag(), "--register", "--devices=%d" % DEVICES,
                   "--device_prefix=" + name, "--mode=sig", "--rate=%d" % RATE,
                   "--count=%d" % (RATE * PUBLISH_S), "--ack_timeout_ms=120000",
                   "--list_records=0", "--progress_ms=5000"],
                  stdout=subprocess.PIPE, stderr=sim_log, text=True)
    deadline = time.time() + 60
    while tap.acks() < 3 * DEVICES * RATE:  # three seconds of acks
        t.check(time.time() < deadline, "%s: acks flowing before the cut" % name)
        time.sleep(0.5)
    t_cut = time.time()
    cut(prefix, victim)
    t.log("%s: cut %s (primary %s, bridge on %s) at %.3f" % (
        name, chain.ids[victim], chain.ids[primary], chain.ids[first], t_cut))

    def resumed():
        published, acked, _ = tap.parse()
        return len(resume_seconds(published, acked, t_cut)) == DEVICES
    # Wait long enough to measure today's ~40 s stall as a figure rather than a timeout.
    deadline = time.time() + 90
    while time.time() < deadline and not resumed():
        time.sleep(0.5)
    out, _ = sim.communicate(timeout=240)
    tap.stop()
    summary = None
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            summary = json.loads(line)
            break
    published, acked, errors = tap.parse()
    per_device = resume_seconds(published, acked, t_cut)
    worst = max(per_device.values()) if len(per_device) == DEVICES else float("inf")
    t.log("%s: acks resumed %.2f s after the cut (worst device; bound %.1f s = %dx "
          "view_change_timeout_ms=%d); per device: %s" % (
              name, worst, BOUND_FACTOR * VIEW_CHANGE_MS / 1000.0, BOUND_FACTOR, VIEW_CHANGE_MS,
              ", ".join("%s %.2f" % kv for kv in sorted(per_device.items()))))

    # Nothing acknowledged is lost: every acked reading is on the ledger (asked of the
    # nodes that were not cut), once, at the height its ack named.
    total = RATE * PUBLISH_S * DEVICES
    t.check(summary is not None and summary["unanswered"] == 0 and not summary["errors"] and
            summary["acked_recorded"] == total,
            "%s: every reading acknowledged as recorded: %s" % (name, summary))
    t.check(not errors, "%s: error answers: %s" % (name, errors[:5]))
    t.check(len(acked) == total, "%s: %d acks seen on the broker, want %d" % (name, len(acked),
                                                                             total))
    for d in range(DEVICES):
        device = "%s-%d" % (name, d)
        _, hist, _ = t.ctl("history", "--device=" + device, "--all", "--limit=1000", "--json",
                           "--timeout_ms=10000", chain.nodes_flag_without(victim))
        entries = json.loads(hist)
        on_ledger = {}
        for e in entries:
            t.check(e["seq"] not in on_ledger, "%s: seq %d recorded twice" % (device, e["seq"]))
            on_ledger[e["seq"]] = e["height"]
        for (dev, seq), (_, height) in acked.items():
            if dev != device:
                continue
            t.check(seq in on_ledger, "%s: acked seq %d is not on the ledger" % (device, seq))
            t.check(on_ledger[seq] == height, "%s: seq %d acked at height %s, on the ledger at %d"
                    % (device, seq, height, on_ledger[seq]))
    t.log("%s: all %d acknowledged readings on the ledger, once, at their acked height" % (
        name, len(acked)))

    t.log("%s: the bridge switched nodes %d time(s)" % (
        name, bridge.log().count("ev=ledger_node_switched")))
    if victim == first:
        t.check("ev=ledger_node_switched from=%s" % chain.addr(victim) in bridge.log(),
                "%s: the bridge logged its move away from the cut node" % name)
    # Every server accepts the keepalive pings (else gRPC answers GOAWAY too_many_pings).
    for f in sorted(os.listdir(root)):
        if f.endswith(".log"):
            t.check("too_many_pings" not in open(os.path.join(root, f), errors="replace").read(),
                    "%s: a server refused keepalive pings (%s)" % (name, f))
    bridge.kill(signal.SIGTERM)
    heal(prefix, victim)
    chain.stop_all()
    t.check_sanitizer_logs(root)
    return worst


def inside(prefix):
    t.bridge_bins()
    root = t.tmpdir("partition")
    broker = t.Mosquitto(root)
    scenarios = [
        # The bridge's node, a backup: no view change, the bridge must move.
        ("bridge-node", lambda p: ((p + 1) % N, (p + 1) % N)),
        # The primary while the bridge talks to a backup: a view change.
        ("primary", lambda p: ((p + 1) % N, p)),
        # The primary that is also the bridge's node: both at once.
        ("primary-bridge-node", lambda p: (p, p)),
    ]
    bound = BOUND_FACTOR * VIEW_CHANGE_MS / 1000.0
    results = {}
    for name, pick in scenarios:
        results[name] = scenario(prefix, broker, name, pick)
    broker.stop()
    for name, worst in results.items():
        print("partition_test: %s cut: acks resumed after %.2f s (bound %.1f s)" % (
            name, worst, bound), flush=True)
    for name, worst in results.items():
        t.check(worst <= bound, "%s cut: acks resumed after %.2f s, more than %dx "
                "view_change_timeout_ms = %.1f s" % (name, worst, BOUND_FACTOR, bound))
    print("PASS")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
    else:
        outside()
