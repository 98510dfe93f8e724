"""Network namespaces for integration tests: four (or n) validators, each in its own namespace,
joined by a Linux bridge in a test-owned hub namespace (SUBNET exists only inside namespaces
the test creates; nothing touches the root namespace's links, nothing leaves the machine).
Mosquitto, the MQTT bridge, device_sim and ledgerctl run in the hub namespace.

A test calls `enter(name, script)` first: outside, as root, it makes the namespaces, runs
`python3 script --inside PREFIX ARGS...` inside the hub and deletes everything at exit, pass or
fail (the nft tables, qdiscs and veths live inside the namespaces); where the machine forbids
namespaces it prints "SKIPPED: ..." and exits 0. Inside, `enter` returns (prefix, args).

Faults on one node's link, all inside its namespace (these kernels have no netem):
  cut      every packet in and out dropped (nft; no RST, no FIN: a pulled cable)
  one_way  only the packets into the node (or only out of it) dropped
  lossy    a share of the packets each way dropped at random (nft numgen)
  slow     both directions rate-limited (tbf on the node's eth0 and the hub's end of its veth)
`heal` undoes any of them."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pltest as t

SUBNET = "10.77.0"
HUB_ADDR = SUBNET + ".254"
NODE_PORT = 7000
CUT_TABLE = t.CUT_TABLE


def run(*args, check=True, input=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("%s: rc=%d %s" % (" ".join(map(str, args)), p.returncode,
                                             p.stderr.strip()))
    return p


def node_ns(prefix, i):
    return "%sn%d" % (prefix, i)


def hub_ns(prefix):
    return prefix + "h"


# ---------------------------------------------------------------------------------------------
# Outside: in the root namespace.

class Topology:
    def __init__(self, prefix, n=4):
        self.prefix = prefix
        self.hub = hub_ns(prefix)
        self.nodes = [node_ns(prefix, i) for i in range(n)]
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


def skip(name, why):
    print("SKIPPED: %s: %s" % (name, why), flush=True)
    sys.exit(0)


def enter(name, script, n=4, tools=()):
    """Inside the hub (argv[1] == "--inside"): returns (prefix, the remaining arguments).
    Outside: builds the namespaces (a random per-run prefix), runs `script` inside the hub with
    the same arguments, deletes everything and exits with its code; skips where forbidden.
    `tools`: (program, Debian package) pairs needed besides ip and nft."""
    if len(sys.argv) >= 3 and sys.argv[1] == "--inside":
        return sys.argv[2], sys.argv[3:]
    if os.geteuid() != 0:
        skip(name, "network namespaces need root (running as uid %d)" % os.geteuid())
    needed = (("ip", "iproute2"), ("nft", "nftables"),
              ("mosquitto_sub", "mosquitto-clients")) + tuple(tools)
    for tool, pkg in needed:
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            t.fail("%s not found: install %s (ops/install_deps.sh)" % (tool, pkg))
    # Unique per process (other sessions run these tests at the same time): the low 12
    # bits of the pid and 12 random bits, drawn again while a namespace has that prefix.
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    while True:
        prefix = "pl%03x%03x" % (os.getpid() & 0xfff, random.randrange(1 << 12))
        if prefix not in existing:
            break
    topo = Topology(prefix, n)
    try:
        topo.add_ns(topo.hub)
    except RuntimeError as e:
        skip(name, "this machine forbids network namespaces (ip netns add failed: %s)" % e)

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
                              os.path.abspath(script), "--inside", prefix] + sys.argv[1:])
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

class NsChain(t.Chain):
    """A Chain whose validator i listens on SUBNET.(i+1):NODE_PORT inside namespace
    node_ns(prefix, i)."""

    def __init__(self, root, prefix, chain_id, n=4):
        self.root = root
        self.prefix = prefix
        self.ids = ["v%d" % i for i in range(n)]
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

    def argv(self, i, extra=()):
        return (["ip", "netns", "exec", node_ns(self.prefix, i)] +
                t.validator_argv(self.root, self.genesis, self.ids[i]) + list(extra))

    def start(self, i=0, extra=(), wait=True):
        logf = open("%s/%s.log" % (self.root, self.ids[i]), "a")
        p = t.spawn(self.argv(i, extra), stdout=logf, stderr=subprocess.STDOUT)
        self.procs[i] = p
        if wait:
            t.wait_for(lambda: self.status(i) is not None, 60,
                       "node %s to answer" % self.ids[i])
        return p

    def nodes_flag_without(self, cut):
        return "--node=" + ",".join(self.addr(i) for i in range(len(self.ids)) if i != cut)


class Ordered:
    """The chain as BridgeProc sees it, with the node addresses in `order` (the bridge talks
    to the first one until it fails)."""

    def __init__(self, chain, order):
        self.chain, self.order = chain, order
        self.root, self.ids = chain.root, chain.ids

    def addr(self, i):
        return self.chain.addr(self.order[i])


def nft_rules(ifname="eth0", inbound=True, outbound=True, loss_pct=None):
    """nft rules (for `nft -f -` inside a node's namespace) dropping the packets in and/or out
    of `ifname`: all of them, or `loss_pct` percent at random. Table inet CUT_TABLE, so
    deleting it heals."""
    match = "" if loss_pct is None else " numgen random mod 100 < %d" % loss_pct
    match += " counter"
    chains = []
    if inbound:
        chains.append("  chain in {\n    type filter hook input priority -300;\n"
                      "    iifname \"%s\"%s drop\n  }\n" % (ifname, match))
    if outbound:
        chains.append("  chain out {\n    type filter hook output priority -300;\n"
                      "    oifname \"%s\"%s drop\n  }\n" % (ifname, match))
    return "table inet %s {\n%s}\n" % (CUT_TABLE, "".join(chains))


def _nft(prefix, i, rules):
    p = subprocess.run(["ip", "netns", "exec", node_ns(prefix, i), "nft", "-f", "-"],
                       input=rules, capture_output=True, text=True)
    t.check(p.returncode == 0, "nft rules in node %d's namespace: %s" % (i, p.stderr))


def cut(prefix, i):
    """Drops every packet to and from node i's link, silently (no RST, no FIN)."""
    _nft(prefix, i, nft_rules("eth0"))


def one_way(prefix, i, inbound):
    """Drops only the packets into node i (inbound) or only those out of it."""
    _nft(prefix, i, nft_rules("eth0", inbound=inbound, outbound=not inbound))


def lossy(prefix, i, pct):
    """Drops `pct` percent of the packets each way on node i's link, at random."""
    _nft(prefix, i, nft_rules("eth0", loss_pct=pct))


def slow(prefix, i, rate="500kbit", burst="16kbit", latency="200ms"):
    """Rate-limits node i's link both ways with tbf: its eth0 (out of the node) and the hub's
    end of its veth (into the node)."""
    for ns, dev in ((node_ns(prefix, i), "eth0"), (None, "p%d" % i)):
        argv = ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst",
                burst, "latency", latency]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        p = run(*argv, check=False)
        t.check(p.returncode == 0, "tc tbf on %s: %s" % (dev, p.stderr))


def dropped(prefix, i):
    """What the faults on node i did so far: packets the nft rules dropped, and packets the
    tbf qdiscs dropped or held back (overlimits)."""
    out = run("ip", "netns", "exec", node_ns(prefix, i), "nft", "list", "table", "inet",
              CUT_TABLE, check=False).stdout
    packets = sum(int(n) for n in re.findall(r"counter packets (\d+)", out))
    tbf_dropped = tbf_over = 0
    for ns, dev in ((node_ns(prefix, i), "eth0"), (None, "p%d" % i)):
        argv = ["tc", "-s", "qdisc", "show", "dev", dev]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        text = run(*argv, check=False).stdout
        if "tbf" in text:
            m = re.search(r"dropped (\d+), overlimits (\d+)", text)
            if m:
                tbf_dropped += int(m.group(1))
                tbf_over += int(m.group(2))
    return {"nft_dropped": packets, "tbf_dropped": tbf_dropped, "tbf_overlimits": tbf_over}


def heal(prefix, i):
    """Undoes cut, one_way, lossy and slow on node i."""
    run("ip", "netns", "exec", node_ns(prefix, i), "nft", "delete", "table", "inet", CUT_TABLE,
        check=False)
    run("ip", "netns", "exec", node_ns(prefix, i), "tc", "qdisc", "del", "dev", "eth0", "root",
        check=False)
    run("tc", "qdisc", "del", "dev", "p%d" % i, "root", check=False)


class Tap:
    """mosquitto_sub on devices/#: the time each reading reached the broker and each answer.
    mosquitto_sub reconnects and subscribes again after a broker restart."""

    def __init__(self, root, broker, name):
        self.path = os.path.join(root, "tap-%s.jsonl" % name)
        self.broker = broker
        self.proc = t.spawn(["stdbuf", "-oL", shutil.which("mosquitto_sub") or "mosquitto_sub",
                             "-h", "127.0.0.1", "-p", str(broker.port), "-V", "5",
                             "-q", "1", "-t", "devices/#", "-F", "%U|%j",
                             # A kept session: answers the bridge resends right after a broker
                             # restart, before this client is back, wait for it at the broker.
                             "-c", "-i", "pl-tap-%s-%d" % (name, os.getpid()), "-x", "3600"],
                            stdout=open(self.path, "w"), stderr=subprocess.STDOUT)
        time.sleep(0.5)  # subscribed before the devices start

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def parse(self, device_prefix=None):
        """-> (published {(device, seq): time}, acked {(device, seq): (time, height)},
        errors [(device, body)]), for devices named `device_prefix`-N if given."""
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
            if device_prefix is not None and device.rpartition("-")[0] != device_prefix:
                continue
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
            if not isinstance(body, dict):
                continue
            if parts[4] == "error":
                errors.append((device, body))
            elif parts[4] in ("success", "datas") and body.get("recorded"):
                for s in body.get("seqs", [body.get("seq")]):
                    acked.setdefault((device, int(s)), (when, body.get("height")))
        return published, acked, errors

    def acks(self, device_prefix=None):
        return len(self.parse(device_prefix)[1])


def resume_seconds(published, acked, t_cut):
    """Per device: seconds from the cut to the first ack of a reading published after it."""
    out = {}
    for (device, seq), (when, _) in acked.items():
        if published.get((device, seq), 0) > t_cut and when > t_cut:
            out[device] = min(out.get(device, float("inf")), when - t_cut)
    return out
