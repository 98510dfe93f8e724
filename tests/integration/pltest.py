"""Shared helpers for provledger's integration tests: real processes on loopback.

Binaries come from Bazel runfiles; every test gets a fresh folder under $TEST_TMPDIR.
Conditions are polled with a deadline, never slept on blindly.
"""
import json
import random
import re
import os
import signal
import shutil
import socket
import subprocess
import sys
import threading
import time

WS = "provledger"
_CHILDREN = []  # every process a test starts; killed at exit, pass or fail


def spawn(args, **kw):
    p = subprocess.Popen(with_transport(args), **kw)
    _CHILDREN.append(p)
    return p


_WATCHED = []  # folders whose *.log files are checked for sanitizer reports at exit
_SHOWN = []  # logs whose report check_sanitizer_logs already printed
_REPORTS = []  # sanitizer reports on the stderr of short-lived tools (any thread)
_SANITIZER_MARKERS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "runtime error:",
                      "ERROR: LeakSanitizer")


def sanitizer_report(text):
    """The first sanitizer report in `text` (up to 20000 characters), or None."""
    for marker in _SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            return text[i:i + 20000]
    return None


def _tool_report(what, stderr):
    """Fails when a tool's `stderr` holds a sanitizer report; also remembered for the exit
    check, since fail() from a background thread only ends that thread."""
    report = sanitizer_report(stderr)
    if report:
        _REPORTS.append("%s: %s" % (what, report))
        fail("%s: sanitizer report:\n%s" % (what, report))


def watch_logs(root):
    """Checks root's *.log files (and its sub-folders') for sanitizer reports when the test
    exits: a report fails the test even if every assertion passed."""
    if root not in _WATCHED:
        _WATCHED.append(root)


def _process_log(name):
    """True for a process log's file name: *.log, but not RocksDB's write-ahead logs
    (000004.log and the like, in every store's folder), which hold records, not reports."""
    return name.endswith(".log") and not re.fullmatch(r"\d+\.log", name)


def _sanitizer_logs(root):
    """(path, report) of the first process log under `root` holding a sanitizer report, or
    None."""
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if not _process_log(f):
                continue
            path = os.path.join(d, f)
            try:
                with open(path, errors="replace") as fh:
                    report = sanitizer_report(fh.read())
            except OSError:
                continue
            if report:
                return path, report
    return None


def _at_exit():
    for p in _CHILDREN:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except Exception:
                pass
    # Every test, also one that does not call check_sanitizer_logs: a sanitized process
    # that reported and went on (UBSan, TSan with halt_on_error=0) fails the test.
    if _REPORTS:
        print("FAIL: sanitizer report from %s" % _REPORTS[0], flush=True)
        os._exit(1)
    for root in _WATCHED:
        found = _sanitizer_logs(root)
        if found and found[0] not in _SHOWN:
            print("FAIL: sanitizer report in %s:\n%s" % found, flush=True)
            os._exit(1)


import atexit  # noqa: E402
atexit.register(_at_exit)


def runfile(rel):
    base = os.environ.get("TEST_SRCDIR")
    if base:
        p = os.path.join(base, WS, rel)
        if os.path.exists(p):
            return p
    # Outside Bazel (ops scripts): the output folder the script built into (bazel-bin
    # follows whichever configuration was built last, so scripts pass it explicitly).
    if os.environ.get("PL_BIN_DIR"):
        return os.path.join(os.environ["PL_BIN_DIR"], rel)
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "bazel-bin", rel)


LEDGER_NODE = None
LEDGERCTL = None


def bins():
    global LEDGER_NODE, LEDGERCTL
    LEDGER_NODE = runfile("node/ledger_node")
    LEDGERCTL = runfile("tools/ledgerctl/ledgerctl")


def tmpdir(name):
    base = os.environ.get("TEST_TMPDIR", "/tmp")
    d = os.path.join(base, name)
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    watch_logs(d)
    return d


# Ports handed out by free_port: below the kernel's ephemeral range (outgoing connections of
# other tests never take them) and reserved by a lock file held until this test exits, so
# two tests running side by side cannot both be given one port.
_PORT_LOCK_DIR = "/tmp/provledger-test-ports"
_PORT_RANGE = (15000, 32000)
_PORT_LOCKS = []  # open lock files, kept for the life of the test process
_PORT_RNG = random.Random()  # seeded from os.urandom: tests started together pick apart


def _reserve_port(port):
    import fcntl
    os.makedirs(_PORT_LOCK_DIR, exist_ok=True)
    f = open("%s/%d" % (_PORT_LOCK_DIR, port), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return False
    _PORT_LOCKS.append(f)
    return True


def free_port():
    """A loopback TCP port no one listens on, not handed to any other running test."""
    for _ in range(1000):
        port = _PORT_RNG.randrange(*_PORT_RANGE)
        if not _reserve_port(port):
            continue
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            continue  # in use by something outside the tests; keep the lock, pick again
        finally:
            s.close()
        return port
    fail("no free port in %d..%d after 1000 tries" % _PORT_RANGE)


def log(*a):
    print("[test]", *a, flush=True)


def _log_tails(lines_each=6, width=240):
    """The last lines of every process log a test wrote: what each node was doing when the
    test gave up (a CI failure is often all anyone gets to read)."""
    out = []
    for root in _WATCHED:
        try:
            names = sorted(n for n in os.listdir(root) if _process_log(n))
        except OSError:
            continue
        for n in names:
            try:
                with open(os.path.join(root, n), errors="replace") as f:
                    tail = f.readlines()[-lines_each:]
            except OSError:
                continue
            out.append("--- %s (last %d lines)" % (n, len(tail)))
            out.extend(l.rstrip("\n")[:width] for l in tail)
    return "\n".join(out[:400])


def fail(msg):
    print("FAIL:", msg, flush=True)
    tails = _log_tails()
    if tails:
        print("logs of the processes this test ran, at the failure:\n" + tails, flush=True)
    _save_logs()
    sys.exit(1)


def _save_logs():
    """Under Bazel, the *.log files of every folder made by tmpdir, into the undeclared
    outputs (test.outputs/outputs.zip): TEST_TMPDIR is gone once a failed run ends."""
    out = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR")
    if not out:
        return
    for root in _WATCHED:
        for d, _, files in os.walk(root):
            for f in files:
                if _process_log(f):
                    rel = os.path.relpath(os.path.join(d, f), os.path.dirname(root))
                    try:
                        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
                        shutil.copyfile(os.path.join(d, f), os.path.join(out, rel))
                    except OSError:
                        pass


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception:  # the thing polled may not be up yet
            pass
        time.sleep(0.05)
    fail("timed out after %ss waiting for %s" % (timeout, what))


def wait_answering(proc, status_of, node_id, logpath, timeout=20):
    """Waits until `proc` answers status_of() as `node_id`; fails at once, with the tail of
    its log, when it exits first, and names any other node found on its address."""
    deadline = time.time() + timeout
    other = None
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = ""
            try:
                with open(logpath, errors="replace") as f:
                    tail = "".join(f.readlines()[-15:])
            except OSError:
                pass
            fail("node %s exited with code %d before answering; its log ends:\n%s" %
                 (node_id, proc.returncode, tail))
        try:
            st = status_of()
        except Exception:  # not up yet
            st = None
        if st is not None:
            if st.get("node_id", node_id) == node_id:
                return st
            other = st.get("node_id")
        time.sleep(0.05)
    fail("timed out after %ss waiting for node %s to answer%s" %
         (timeout, node_id, " (its address answers as %s)" % other if other else ""))


def converge(status_of, nodes, timeout, what):
    """Waits until every node in `nodes` answers `status_of(i)` with the same height and head;
    -> that status. `what` names the wait in the failure."""
    seen = {}

    def same():
        sts = [status_of(i) for i in nodes]
        if any(s is None for s in sts):
            return False
        seen["sts"] = sts
        return len({(s["height"], s["head_hash"]) for s in sts}) == 1
    wait_for(same, timeout, what)
    return seen["sts"][0]


def ctl(*args, check_rc=True, timeout=60):
    """Runs ledgerctl; returns (rc, stdout, stderr)."""
    p = subprocess.run(with_transport([LEDGERCTL] + [str(a) for a in args]), capture_output=True,
                       text=True, timeout=timeout)
    _tool_report("ledgerctl " + " ".join(map(str, args)), p.stderr)
    if check_rc and p.returncode != 0:
        fail("ledgerctl %s: rc=%d\n%s%s" % (" ".join(map(str, args)), p.returncode, p.stdout,
                                            p.stderr))
    return p.returncode, p.stdout, p.stderr


def _committed_height(ctl_stdout):
    """The height in ledgerctl's "...: committed at height N as record ..." line."""
    m = re.search(r"committed at height (\d+)", ctl_stdout)
    if not m:
        fail("no commit height in ledgerctl's output: %r" % ctl_stdout)
    return int(m.group(1))


# How gRPC runs in tests: plaintext (--insecure) unless a test gives its processes TLS flags
# of its own (tls_flags below). Every node, bridge, ledgerctl and device_sim started through
# spawn, ctl and device_sim gets --insecure appended when its command line has no --tls_*
# flag, so the tests written before TLS run unchanged.
def _grpc_binaries():
    return {b for b in (LEDGER_NODE, LEDGERCTL, MQTT_BRIDGE, DEVICE_SIM) if b}


# Paths of binaries built before --insecure existed (ops/bench_suite.py's --baseline_bin):
# they speak plaintext without it and refuse an unknown flag.
PLAINTEXT_ONLY = set()


def with_transport(args):
    """`args` with --insecure appended when it runs one of our gRPC binaries (directly or
    through `ip netns exec`) and names no transport flag of its own."""
    if isinstance(args, str):  # a shell command line
        return args
    args = [str(a) for a in args]
    ours = [a for a in args if a in _grpc_binaries()]
    if not ours or all(a in PLAINTEXT_ONLY for a in ours):
        return args
    if any(a == "--insecure" or a.startswith("--tls_") for a in args):
        return args
    return args + ["--insecure"]


def tls_flags(certs_dir, name):
    """The gRPC TLS flags of holder `name` of a `ledgerctl certs --dir=certs_dir`."""
    return ["--tls_ca=%s/ca.pem" % certs_dir, "--tls_cert=%s/%s.pem" % (certs_dir, name),
            "--tls_key=%s/%s.key" % (certs_dir, name)]


def make_certs(certs_dir, **roles):
    """Runs `ledgerctl certs --dir=certs_dir` with roles given as lists: peers=[...],
    gateways=[...], readers=[...] (NAME or NAME:DEV+DEV), admins=[...]."""
    args = ["certs", "--dir=" + certs_dir]
    for role, names in roles.items():
        if names:
            args.append("--%s=%s" % (role, ",".join(names)))
    ctl(*args)


def ctl_json(*args):
    _, out, _ = ctl(*args, "--json")
    return json.loads(out)


def validator_argv(root, genesis, v):
    """ledger_node's command line for validator `v` (key root/v.key, data in root/v), then the
    flags of $PL_VALIDATOR_FLAGS (space-separated; for running a test with a flag turned, e.g.
    bazel test --test_env=PL_VALIDATOR_FLAGS=--block_cut_in_flight=0)."""
    return [LEDGER_NODE, "--genesis=" + genesis, "--node_id=" + v, "--key=%s/%s.key" % (root, v),
            "--data_dir=%s/%s" % (root, v)] + os.environ.get("PL_VALIDATOR_FLAGS", "").split()


def follower_argv(root, genesis, name, addr):
    """ledger_node's command line for follower `name` serving on `addr` (data in root/name)."""
    return [LEDGER_NODE, "--follow", "--genesis=" + genesis, "--node_id=" + name,
            "--listen=" + addr, "--data_dir=%s/%s" % (root, name)]


class Chain:
    """A genesis with `n` validators (keys, addresses), an admin key, a gateway and devices.
    With `certs` (a ledgerctl certs folder holding peer certificates named v0.. and an admin
    one named "admin"), the validators serve TLS and the helpers below call them as admin."""

    certs = None  # class defaults too: subclasses with an __init__ of their own run plaintext
    ctl_tls = []

    def __init__(self, root, n=1, chain_id="itest", light=(), certs=None):
        self.root = root
        self.certs = certs
        self.ctl_tls = tls_flags(certs, "admin") if certs else []
        self.ports = [free_port() for _ in range(n)]
        self.ids = ["v%d" % i for i in range(n)]
        for v in self.ids:
            ctl("keygen", "--out=%s/%s.key" % (root, v))
        ctl("keygen", "--out=%s/admin.key" % root)
        args = ["genesis", "--chain_id=" + chain_id, "--out=%s/genesis.json" % root,
                "--admin=%s/admin.key" % root]
        for v, p in zip(self.ids, self.ports):
            args.append("--validator=%s:%s/%s.key:127.0.0.1:%d" % (v, root, v, p))
        if light:  # validators declared "mode": "light" in the genesis
            args.append("--light=" + ",".join(light))
        ctl(*args)
        self.genesis = root + "/genesis.json"
        self.procs = {}
        self.follower_ports = {}  # follower name -> its port (kept across restarts)

    def addr(self, i=0):
        return "127.0.0.1:%d" % self.ports[i]

    def nodes_flag(self):
        return "--node=" + ",".join(self.addr(i) for i in range(len(self.ids)))

    def start(self, i=0, extra=(), timeout=20):
        """Starts validator `i`; returns once it answers status as itself (wait_answering,
        up to `timeout` s: give more where the machine is loaded by a running cluster)."""
        v = self.ids[i]
        logf = open("%s/%s.log" % (self.root, v), "a")
        extra = list(extra)
        if self.certs and not any(str(a).startswith("--tls_") for a in extra):
            extra += tls_flags(self.certs, v)
        p = spawn(validator_argv(self.root, self.genesis, v) + extra,
                  stdout=logf, stderr=subprocess.STDOUT)
        self.procs[i] = p
        wait_answering(p, lambda: self.status(i), v, "%s/%s.log" % (self.root, v), timeout)
        return p

    def corrupt_block(self, i, height):
        """Flips a byte of block `height`'s body in stopped validator `i`'s store (the
        tests/integration:corrupt_block tool, in the test's data); returns what it printed."""
        p = subprocess.run([runfile("tests/integration/corrupt_block"),
                            "--data_dir=%s/%s" % (self.root, self.ids[i]),
                            "--chain_id=" + json.load(open(self.genesis))["chain_id"],
                            "--height=%d" % height], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "corrupt_block: %s %s" % (p.stdout, p.stderr))
        return p.stdout.strip()

    def status(self, i=0):
        addr = i if isinstance(i, str) else self.addr(i)
        rc, out, _ = ctl("status", "--json", "--node=" + addr, "--timeout_ms=5000",
                         *self.ctl_tls, check_rc=False)
        return json.loads(out) if rc == 0 else None

    def start_follower(self, name="f0", extra=()):
        """Starts `ledger_node --follow` as `name` (no key; its own port, the same one again
        on a restart, data in root/name); returns (process, address)."""
        port = self.follower_ports.setdefault(name, free_port())
        addr = "127.0.0.1:%d" % port
        logf = open("%s/%s.log" % (self.root, name), "a")
        extra = list(extra)
        if self.certs and not any(str(a).startswith("--tls_") for a in extra):
            extra += tls_flags(self.certs, name)  # a peer certificate named after it
        p = spawn(follower_argv(self.root, self.genesis, name, addr) + extra,
                  stdout=logf, stderr=subprocess.STDOUT)
        wait_answering(p, lambda: self.status(addr), name, "%s/%s.log" % (self.root, name))
        return p, addr

    def kill(self, i=0, sig=signal.SIGKILL):
        p = self.procs.pop(i)
        p.send_signal(sig)
        p.wait(timeout=20)

    def stop_all(self):
        for i in list(self.procs):
            self.kill(i, signal.SIGTERM)

    def start_all(self, extra=()):
        for i in range(len(self.ids)):
            self.start(i, extra)

    def history(self, device):
        """Every record of `device` on the ledger (up to 1000), as ledgerctl history --json."""
        _, out, _ = ctl("history", "--device=" + device, "--all", "--limit=1000", "--json",
                        self.nodes_flag(), *self.ctl_tls)
        return json.loads(out)

    def register(self, gateway="gw-1", devices=("dev-1",)):
        """Registers `gateway` and `devices` (keys in root), then waits until every running
        validator has applied them: a bridge or device started next may ask any node, and one
        that commits a registration late would answer NOT_FOUND."""
        ctl("keygen", "--out=%s/%s.key" % (self.root, gateway))
        _, out, _ = ctl("register-gateway", "--id=" + gateway,
                        "--key=%s/%s.key" % (self.root, gateway),
                        "--admin_key=%s/admin.key" % self.root, "--genesis=" + self.genesis,
                        self.nodes_flag(), *self.ctl_tls)
        heights = [_committed_height(out)]
        for d in devices:
            ctl("keygen", "--out=%s/%s.key" % (self.root, d))
            _, out, _ = ctl("register-device", "--id=" + d, "--key=%s/%s.key" % (self.root, d),
                            "--admin_key=%s/admin.key" % self.root, "--genesis=" + self.genesis,
                            self.nodes_flag(), *self.ctl_tls)
            heights.append(_committed_height(out))
        self.wait_applied(max(heights), "the registrations of %s and %d device(s)" % (
            gateway, len(devices)))

    def wait_applied(self, height, what, timeout=60):
        """Waits until every running validator (started, not killed) is at `height` or
        above, i.e. has applied what committed there (`what` names it in the failure)."""
        running = [i for i, p in self.procs.items() if p.poll() is None]
        wait_for(lambda: all((self.status(i) or {}).get("height", -1) >= height for i in running),
                 timeout, "%s (height %d) on every running validator %s" % (
                     what, height, [self.ids[i] for i in running]))

    def submit_args(self, device="dev-1", gateway="gw-1"):
        return ["submit", "--gateway=" + gateway, "--gateway_key=%s/%s.key" % (self.root, gateway),
                "--device=" + device, "--device_key=%s/%s.key" % (self.root, device),
                "--genesis=" + self.genesis, self.nodes_flag()]


MQTT_BRIDGE = None
DEVICE_SIM = None


def bridge_bins():
    global MQTT_BRIDGE, DEVICE_SIM
    bins()
    MQTT_BRIDGE = runfile("mqtt-bridge/mqtt_bridge")
    DEVICE_SIM = runfile("tools/device_sim/device_sim")


def write_mosquitto_conf(root, port, tls=None, passwd=None, acl=None, persistence=False):
    """Writes root/mosquitto.conf for a broker on 127.0.0.1:port, as our quickstart says;
    returns its path. tls=(ca, cert, key) files: a TLS listener; passwd and acl files: no
    anonymous clients, and each one's topics limited as the ACL says. With `persistence`,
    sessions and queued messages are saved in root/ at a clean stop and every second, so
    they outlive a broker restart."""
    conf = os.path.join(root, "mosquitto.conf")
    lines = ["listener %d 127.0.0.1" % port,
             "allow_anonymous %s" % ("false" if passwd else "true"),
             "set_tcp_nodelay true", "max_queued_messages 100000",
             "max_inflight_messages 1000"]
    if persistence:
        lines += ["persistence true", "persistence_location %s/" % root,
                  "autosave_interval 1"]
    else:
        lines.append("persistence false")
    if tls:
        lines += ["cafile %s" % tls[0], "certfile %s" % tls[1], "keyfile %s" % tls[2],
                  "require_certificate false"]
    if passwd:
        lines.append("password_file %s" % passwd)
    if acl:
        lines.append("acl_file %s" % acl)
    if os.geteuid() == 0:
        lines.append("user root")  # the test sandbox forbids dropping privileges
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


# The broker ACL of docs/SECURITY.md: a device (its MQTT username is its id) publishes only
# under its own devices/{id}/... and reads only its own answers; each gateway user in
# `gateways` reads and answers every device's topics.
def device_acl(gateways):
    lines = ["pattern write devices/%u/key", "pattern write devices/%u/data/+",
             "pattern write devices/%u/integrity", "pattern write devices/%u/update/status",
             "pattern write devices/%u/account", "pattern read devices/%u/#"]
    for g in gateways:
        lines += ["", "user %s" % g, "topic readwrite devices/#"]
    return "\n".join(lines) + "\n"


def mosquitto_argv(conf):
    import shutil
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"  # PATH may lack sbin
    return [exe, "-c", conf]


def port_open(port, host="127.0.0.1"):
    """True when something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def bridge_argv(root, gateway, nodes, data_dir, broker_uri):
    """mqtt_bridge's command line for `gateway` (key root/gateway.key) over `nodes` (addresses
    in the order it tries them)."""
    return [MQTT_BRIDGE, "--gateway_id=" + gateway, "--gateway_key=%s/%s.key" % (root, gateway),
            "--nodes=" + ",".join(nodes), "--data_dir=" + data_dir, "--broker=" + broker_uri,
            "--stats_interval_ms=2000", "--registry_refresh_ms=300"]


CUT_TABLE = "plcut"  # the nft table that cuts a node off inside its network namespace


def nft_cut_rules(ifname="eth0"):
    """nft rules (for `nft -f -`, run inside a node's namespace) dropping every packet in and
    out of `ifname`: silently, no RST, no FIN, as a pulled cable; deleting table inet
    CUT_TABLE heals."""
    return ("table inet %s {\n"
            "  chain in { type filter hook input priority -300; iifname \"%s\" drop; }\n"
            "  chain out { type filter hook output priority -300; oifname \"%s\" drop; }\n"
            "}\n" % (CUT_TABLE, ifname, ifname))


class Mosquitto:
    """A real mosquitto on a free loopback port, configured as our quickstart says; with
    `certs` (a ledgerctl certs folder holding a server certificate "broker"), a TLS listener
    (uri() is ssl://); with `users` ({name: password}), a password file and device_acl(gateways)."""

    def __init__(self, root, certs=None, users=None, gateways=(), persistence=False):
        self.root = root
        self.port = free_port()
        self.certs = certs
        self.users = dict(users or {})
        tls = (certs + "/ca.pem", certs + "/broker.pem", certs + "/broker.key") if certs else None
        passwd = acl = None
        if self.users:
            passwd = os.path.join(root, "mosquitto.passwd")
            if os.path.exists(passwd):
                os.remove(passwd)
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for name, pw in self.users.items():
                subprocess.run([tool, "-b"] + ([] if os.path.exists(passwd) else ["-c"]) +
                               [passwd, name, pw], check=True, capture_output=True)
            acl = os.path.join(root, "mosquitto.acl")
            with open(acl, "w") as f:
                f.write(device_acl(gateways))
        self.conf = write_mosquitto_conf(root, self.port, tls, passwd, acl, persistence)
        self.proc = None
        self.start()

    def start(self):
        logf = open(os.path.join(self.root, "mosquitto.log"), "a")
        self.proc = spawn(mosquitto_argv(self.conf), stdout=logf, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(self.port), 10, "mosquitto on port %d" % self.port)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def uri(self):
        return "%s://127.0.0.1:%d" % ("ssl" if self.certs else "tcp", self.port)

    def client_flags(self, user=None):
        """Our binaries' broker flags for `user` (its password in a 0600 file)."""
        flags = ["--broker_ca=%s/ca.pem" % self.certs] if self.certs else []
        if user is not None:
            pw = os.path.join(self.root, "mqtt-%s.password" % user)
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, (self.users[user] + "\n").encode())
            os.close(fd)
            flags += ["--broker_user=" + user, "--broker_password_file=" + pw]
        return flags

    def cli_flags(self, user=None):
        """mosquitto_pub/mosquitto_sub flags for `user`."""
        flags = ["-h", "127.0.0.1", "-p", str(self.port), "-V", "5"]
        if self.certs:
            flags += ["--cafile", self.certs + "/ca.pem"]
        if user is not None:
            flags += ["-u", user, "-P", self.users[user]]
        return flags


class BridgeProc:
    def __init__(self, chain, broker, name="b0", gateway="gw-1", extra=()):
        self.chain, self.broker, self.name, self.gateway = chain, broker, name, gateway
        self.extra = list(extra)
        self.proc = None
        self.logpath = os.path.join(chain.root, "bridge-%s.log" % name)

    def start(self, wait=True):
        ready_before = self.log().count("ev=bridge_ready") if os.path.exists(self.logpath) else 0
        logf = open(self.logpath, "a")
        self.proc = spawn(
            bridge_argv(self.chain.root, self.gateway,
                        [self.chain.addr(i) for i in range(len(self.chain.ids))],
                        "%s/bridge-%s" % (self.chain.root, self.name), self.broker.uri()) +
            self.extra, stdout=logf, stderr=subprocess.STDOUT)
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    fail("bridge %s exited with %d:\n%s" % (self.name, self.proc.returncode,
                                                             self.log()[-3000:]))
                return self.log().count("ev=bridge_ready") > ready_before
            wait_for(ready, 180, "bridge %s ready" % self.name)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        self.proc = None

    def log(self):
        return open(self.logpath).read()

    def stats_lines(self):
        """How many bridge_stats lines the log holds so far."""
        return sum(1 for l in self.log().splitlines() if "ev=bridge_stats" in l)

    def stats(self):
        """The last bridge_stats line of the log, as a dict of ints ({} before the first)."""
        lines = [l for l in self.log().splitlines() if "ev=bridge_stats" in l]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)\b", lines[-1])}


def device_sim(chain, broker, *args, check_rc=True, timeout=120):
    """Runs device_sim; returns (rc, summary dict or None, stderr)."""
    cmd = [DEVICE_SIM, "--broker=" + broker.uri(), "--keys_dir=%s/devkeys" % chain.root,
           "--genesis=" + chain.genesis, "--admin_key=%s/admin.key" % chain.root,
           chain.nodes_flag()] + [str(a) for a in args]
    p = subprocess.run(with_transport(cmd), capture_output=True, text=True, timeout=timeout)
    _tool_report("device_sim " + " ".join(map(str, args)), p.stderr)
    summary = None
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            summary = json.loads(line)
            break
    if check_rc and p.returncode != 0:
        fail("device_sim %s: rc=%d\n%s\n%s" % (" ".join(map(str, args)), p.returncode,
                                              p.stdout[-3000:], p.stderr[-3000:]))
    return p.returncode, summary, p.stderr


def check_sanitizer_logs(root):
    """Fails now when a process this test ran reported a sanitizer error in a log under
    `root` (tests also get this check at exit for every folder made by tmpdir())."""
    found = _sanitizer_logs(root)
    if found:
        _SHOWN.append(found[0])
        fail("sanitizer report in %s:\n%s" % found)


class SubmitLoop:
    """One background submitter: `ledgerctl submit --count=COUNT` as dev-1 to the chain's
    validators in a loop, from `seq` up (a failed call is counted and retried with new seqs).
    `acked` maps each acknowledged record id to the height its acknowledgement named."""

    def __init__(self, chain, seq, count=10, timeout_ms=None):
        self.chain = chain
        self.seq = seq
        self.batch = count
        self.timeout_ms = timeout_ms
        self.acked = {}
        self.failures = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        root = self.chain.root
        extra = [] if self.timeout_ms is None else ["--timeout_ms=%d" % self.timeout_ms]
        while not self.stop_ev.is_set():
            rc, out, _ = ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                             "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                             "--genesis=" + self.chain.genesis, self.chain.nodes_flag(),
                             "--count=%d" % self.batch, "--seq=%d" % self.seq, "--json",
                             *extra, check_rc=False, timeout=120)
            self.seq += self.batch
            with self.lock:
                if rc != 0:
                    self.failures += 1
                    continue
                for r in json.loads(out):
                    if r["outcome"] in ("committed", "duplicate"):
                        self.acked[r["record_id"]] = r["height"]

    def count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stop_ev.set()
        self.th.join(timeout=180)
        with self.lock:
            return dict(self.acked)


class SubmitLoad:
    """Background submitters: `ledgerctl submit --count=20` in a loop, each thread with its
    own device (of `devices`, registered, keys in chain.root) and seq range and its own node
    order (failover across every validator). `acked` maps each acknowledged record id to
    the height its acknowledgement named."""

    def __init__(self, chain, threads=3, timeout_ms=3000, devices=("dev-1", "dev-2", "dev-3")):
        self.chain = chain
        self.devices = devices
        self.timeout_ms = timeout_ms
        self.acked = {}  # record id -> height
        self.outcomes = {}
        self.failures = 0
        self.lock = threading.Lock()
        self.paused = False
        self.busy = [False] * threads
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in range(threads)]
        for th in self.threads:
            th.start()

    def node_order(self, k):
        n = len(self.chain.ids)
        idx = [(k + j) % n for j in range(n)]
        return "--node=" + ",".join(self.chain.addr(i) for i in idx)

    def run(self, k):
        root = self.chain.root
        seq = 1000000000 * (k + 1)
        dev = self.devices[k % len(self.devices)]
        while not self.stop_ev.is_set():
            with self.lock:
                if self.paused:
                    self.busy[k] = False
                else:
                    self.busy[k] = True
            if not self.busy[k]:
                time.sleep(0.02)
                continue
            rc, out, _ = ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                               "--device=" + dev, "--device_key=%s/%s.key" % (root, dev),
                               "--genesis=" + self.chain.genesis, self.node_order(k),
                               "--count=20", "--seq=%d" % seq, "--json",
                               "--timeout_ms=%d" % self.timeout_ms,
                               check_rc=False, timeout=len(self.chain.ids) * self.timeout_ms / 1000 + 30)
            seq += 20
            with self.lock:
                if rc != 0:
                    self.failures += 1
                else:
                    for r in json.loads(out):
                        self.outcomes[r["outcome"]] = self.outcomes.get(r["outcome"], 0) + 1
                        if r["outcome"] in ("committed", "duplicate"):
                            self.acked[r["record_id"]] = r["height"]
                self.busy[k] = False

    def count(self):
        with self.lock:
            return len(self.acked)

    def pause(self):
        with self.lock:
            self.paused = True
        wait_for(lambda: not any(self.busy), 60, "submitters to finish their batch")

    def resume(self):
        with self.lock:
            self.paused = False

    def stop(self):
        self.pause()
        self.stop_ev.set()
        for th in self.threads:
            th.join(timeout=60)
