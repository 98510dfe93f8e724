"""Metrics (issue 15, "Proof that it works"): every binary serves Prometheus text with
--metrics_listen, scraped during load from a real cluster (4 validators, a follower,
Mosquitto, a bridge, the integrity agent).

1. A --metrics_listen port in use stops the node, the bridge and the agent at start with
   exit 2 and ev=listen_failed (the node's code for --listen).
2. Every scrape is parsed strictly (parse_exposition): each sample has a # TYPE for its
   family before it, names, labels and values are valid, series are unique, histogram
   buckets are cumulative with +Inf == _count.
3. Under submissions, two scrapes of each validator: blocks and records appended move, the
   height gauge matches `ledgerctl status` (taken between them, and exactly once idle), the
   commit-latency histogram counts the submissions answered; the follower's appended blocks
   (source=transfer) move and its role is follower.
4. The primary killed under load: the others count view changes (entered), their view
   gauge moves, and the dead peer's lag grows.
5. The bridge under device_sim: readings in (received) and out (committed) move, submit
   latency counts, refusals by code add up to refused_total after faulty devices.
6. The agent daemon: reports sent and appraised, measurements counted, a new entry moves
   them again.
7. ops/grafana-dashboard.json parses and every metric its queries name is served;
   ops/prometheus.yml names the compose services' metrics ports."""
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

import agent_test as at
import pltest as t

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    t.check(re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s) is not None,
            "bad sample value %r in %s" % (s, where))
    return float(s)


def parse_labels(text, where):
    """`a="x",b="y\\n"` -> {"a": "x", "b": "y\n"}, checking escapes and names."""
    labels, i = {}, 0
    while i < len(text):
        m = re.match(LABEL, text[i:])
        t.check(m is not None, "bad label name at %r in %s" % (text[i:], where))
        name = m.group(0)
        t.check(not name.startswith("__"), "reserved label %s in %s" % (name, where))
        i += len(name)
        t.check(text[i:i + 2] == '="', "label %s without =\" in %s" % (name, where))
        i += 2
        val = []
        while True:
            t.check(i < len(text), "unterminated label value in %s" % where)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                t.check(nxt in ("\\", '"', "n"), "bad escape \\%s in %s" % (nxt, where))
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                t.check(c != "\n", "raw newline in a label value in %s" % where)
                val.append(c)
                i += 1
        t.check(name not in labels, "label %s twice in %s" % (name, where))
        labels[name] = "".join(val)
        if i < len(text):
            t.check(text[i] == ",", "labels not separated by , in %s" % where)
            i += 1
    return labels


def parse_exposition(text, where):
    """Parses the text format (0.0.4) strictly; returns {family: {"type", "help", "samples":
    [(name, labels, value)]}} and fails the test on any violation."""
    t.check(text.endswith("\n"), "%s: the exposition does not end with a newline" % where)
    fams, series, current = {}, set(), None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        at_ = "%s line %d: %r" % (where, n, line)
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME, line)
            if not m:
                continue  # a plain comment
            kind, fam, rest = m.groups()
            f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
            t.check(not f["samples"], "%s: %s after samples of %s" % (at_, kind, fam))
            if kind == "TYPE":
                t.check(rest in TYPES, "%s: unknown type" % at_)
                t.check(f["type"] is None, "%s: second TYPE" % at_)
                f["type"] = rest
            else:
                t.check(f["help"] is None, "%s: second HELP" % at_)
                t.check(re.search(r"\\[^\\n]", rest.replace("\\\\", "")) is None,
                        "%s: bad escape in HELP" % at_)
                f["help"] = rest
            current = fam
            continue
        t.check(line.strip() != "", "%s: empty line" % at_)
        m = re.fullmatch(r"(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?" % NAME, line)
        t.check(m is not None, "%s: not a sample line" % at_)
        name, ltext, vtext, _ = m.groups()
        labels = parse_labels(ltext or "", at_)
        value = parse_value(vtext, at_)
        fam = name
        if name not in fams or fams[name]["type"] is None:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[:-len(suffix)]
                if name.endswith(suffix) and fams.get(base, {}).get("type") == "histogram":
                    fam = base
        t.check(fam in fams and fams[fam]["type"] is not None,
                "%s: no # TYPE before the first sample of %s" % (at_, fam))
        t.check(fam == current, "%s: sample of %s inside family %s" % (at_, fam, current))
        key = (name, tuple(sorted(labels.items())))
        t.check(key not in series, "%s: series twice" % at_)
        series.add(key)
        if fams[fam]["type"] == "counter":
            t.check(value >= 0, "%s: negative counter" % at_)
        fams[fam]["samples"].append((name, labels, value))
    for fam, f in fams.items():
        t.check(f["type"] is not None, "%s: %s has HELP but no TYPE" % (where, fam))
        if f["type"] == "counter":
            t.check(fam.endswith("_total"), "%s: counter %s not named *_total" % (where, fam))
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"], where)
    return fams


def check_histogram(fam, samples, where):
    groups = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            t.check("le" in labels, "%s: %s bucket without le" % (where, fam))
            g["buckets"].append((parse_value(labels["le"], where), value))
        elif name == fam + "_sum":
            g["sum"] = value
        elif name == fam + "_count":
            g["count"] = value
        else:
            t.fail("%s: %s in histogram %s" % (where, name, fam))
    for rest, g in groups.items():
        b = g["buckets"]
        t.check(b and g["sum"] is not None and g["count"] is not None,
                "%s: histogram %s%s lacks buckets, _sum or _count" % (where, fam, rest))
        t.check([le for le, _ in b] == sorted(le for le, _ in b), "%s: %s le not ascending"
                % (where, fam))
        t.check(b[-1][0] == math.inf, "%s: %s has no +Inf bucket" % (where, fam))
        t.check(all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)),
                "%s: %s buckets not cumulative: %s" % (where, fam, b))
        t.check(b[-1][1] == g["count"], "%s: %s +Inf %s != _count %s" % (where, fam, b[-1][1],
                                                                           g["count"]))


def scrape(port, where):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        ctype = r.headers.get("Content-Type", "")
        t.check(r.status == 200 and ctype.startswith("text/plain; version=0.0.4"),
                "%s: status %d content type %r" % (where, r.status, ctype))
        return parse_exposition(r.read().decode("utf-8"), where)


def value(fams, fam, name=None, **labels):
    """The sample of `fam` (sample name `name`, default the family's) with exactly these
    labels; None when absent (0 for a counter: its labelled child not made yet)."""
    for n, l, v in fams.get(fam, {}).get("samples", []):
        if n == (name or fam) and l == labels:
            return v
    return 0 if fams.get(fam, {}).get("type") == "counter" else None


def total(fams, fam):
    return sum(v for _, _, v in fams.get(fam, {}).get("samples", []))


def expect_exit2(argv, logpath, what):
    """Runs argv to its end (a port in use): exit 2 and ev=listen_failed in its output."""
    with open(logpath, "w") as f:
        p = subprocess.run(t.with_transport(argv), stdout=f, stderr=subprocess.STDOUT, timeout=120)
    text = open(logpath).read()
    t.check(p.returncode == 2 and "ev=listen_failed" in text and "what=metrics" in text,
            "%s with its metrics port in use: rc=%d\n%s" % (what, p.returncode, text[-2000:]))


def must_refuse(text, why):
    """The parser must fail on `text` (so a scrape that passes it is well-formed)."""
    import contextlib
    import io
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            parse_exposition(text, "bad")
    except SystemExit:
        return
    t.fail("the exposition parser accepted %s:\n%s" % (why, text))


def check_parser():
    good = ("# HELP a_total x\n# TYPE a_total counter\na_total{c=\"q\\\"\\n\"} 1\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3.5\nh_count 2\n")
    fams = parse_exposition(good, "good")
    t.check(fams["a_total"]["samples"][0][1] == {"c": 'q"\n'}, "label unescaped: %s" % fams)
    must_refuse("a_total 1\n", "a sample without # TYPE")
    must_refuse("# TYPE a_total counter\na_total{c=\"x\\q\"} 1\n", "a bad escape")
    must_refuse("# TYPE a_total counter\na_total 1\na_total 2\n", "a series twice")
    must_refuse("# TYPE a_total counter\na_total one\n", "a bad value")
    must_refuse("# TYPE 9a gauge\n9a 1\n", "a bad name")
    must_refuse(good.replace("h_count 2", "h_count 3"), "+Inf != _count")
    must_refuse(good.replace('le=\"1\"} 1', 'le=\"1\"} 5'), "buckets not cumulative")
    must_refuse(good.replace("h_sum 3.5\n", ""), "a histogram without _sum")
    must_refuse("# TYPE a gauge\n# TYPE b gauge\na 1\n", "a sample outside its family")


def main():
    check_parser()
    t.bridge_bins()
    root = t.tmpdir("metrics")
    chain = t.Chain(root, n=4)
    mports = [t.free_port() for _ in range(4)]
    for i in range(4):
        chain.start(i, extra=["--metrics_listen=127.0.0.1:%d" % mports[i]])
    t.wait_for(lambda: all(chain.status(i) for i in range(4)), 60, "4 validators answer")
    chain.register(devices=("dev-1",))
    fport = t.free_port()
    _, faddr = chain.start_follower("f0", extra=["--metrics_listen=127.0.0.1:%d" % fport])

    # ---- 1. a metrics port in use -------------------------------------------------------
    expect_exit2(t.follower_argv(root, chain.genesis, "f9", "127.0.0.1:%d" % t.free_port()) +
                 ["--metrics_listen=127.0.0.1:%d" % mports[0]], root + "/f9.log", "ledger_node")
    t.check(not os.path.exists(root + "/f9/chain"), "the node opened its store before failing")
    broker = t.Mosquitto(root)
    expect_exit2(t.bridge_argv(root, "gw-1", [chain.addr(i) for i in range(4)], root + "/b9",
                               broker.uri()) + ["--metrics_listen=127.0.0.1:%d" % mports[1]],
                 root + "/bridge-b9.log", "mqtt_bridge")
    t.log("a metrics port in use: node and bridge exit 2 with ev=listen_failed")

    # ---- 3. validators and the follower under submissions --------------------------------
    first = [scrape(p, "v%d" % i) for i, p in enumerate(mports)]
    ffirst = scrape(fport, "f0")
    load = t.SubmitLoop(chain, seq=1, count=10)
    t.wait_for(lambda: load.count() >= 100, 180, "100 records committed under load")
    h_before = [value(scrape(p, "v%d" % i), "provledger_node_height") for i, p in
                enumerate(mports)]
    st = [chain.status(i) for i in range(4)]
    second = [scrape(p, "v%d" % i) for i, p in enumerate(mports)]
    for i in range(4):
        w = "v%d" % i
        for fam in ("provledger_node_blocks_appended_total", "provledger_node_records_appended_total"):
            a = total(first[i], fam)
            b = total(second[i], fam)
            t.check(b > a, "%s: %s moved under load: %s -> %s" % (w, fam, a, b))
        h = value(second[i], "provledger_node_height")
        t.check(h_before[i] <= st[i]["height"] <= h,
                "%s: ledgerctl status height %s between the scrapes' %s and %s"
                % (w, st[i]["height"], h_before[i], h))
        t.check(value(second[i], "provledger_node_role", role="validator") == 1,
                "%s: role validator" % w)
        t.check(value(second[i], "provledger_node_view") == st[i]["view"], "%s: view" % w)
        lag = {l["peer"]: v for n, l, v in
               second[i]["provledger_node_peer_lag_blocks"]["samples"]}
        t.check(sorted(lag) == sorted(x for x in chain.ids if x != w) and
                all(v < 1000 for v in lag.values()), "%s: a lag per peer: %s" % (w, lag))
        t.check(value(second[i], "provledger_node_store_bytes", kind="sst") is not None,
                "%s: store bytes" % w)
    lat = [value(s, "provledger_node_commit_latency_seconds",
                 "provledger_node_commit_latency_seconds_count") for s in second]
    t.check(sum(lat) >= 10, "commit latencies counted for the submissions: %s" % lat)
    fsecond = scrape(fport, "f0")
    t.check(value(fsecond, "provledger_node_blocks_appended_total", source="transfer") >
            value(ffirst, "provledger_node_blocks_appended_total", source="transfer"),
            "the follower's pulled blocks moved")
    t.check(value(fsecond, "provledger_node_role", role="follower") == 1, "follower role")
    t.log("validators and follower: commits move, height == status, latency counted")

    # ---- 4. the primary killed under load ----------------------------------------------
    primary = st[1]["primary"]
    pi = chain.ids.index(primary)
    others = [i for i in range(4) if i != pi]
    entered0 = {i: value(second[i], "provledger_node_view_changes_total", stage="entered")
                for i in others}
    chain.kill(pi)
    t.log("killed the primary %s" % primary)

    def moved_on():
        for i in others:
            s = scrape(mports[i], "v%d" % i)
            if value(s, "provledger_node_view_changes_total", stage="entered") <= entered0[i] \
                    or value(s, "provledger_node_view") < 1:
                return False
        return True
    t.wait_for(moved_on, 240, "the others to count a view change and move their view")
    base = load.count()
    t.wait_for(lambda: load.count() >= base + 30, 240, "commits after the view change")
    s = scrape(mports[others[0]], "v%d" % others[0])
    lag = value(s, "provledger_node_peer_lag_blocks", peer=primary)
    t.check(lag is not None and lag > 0, "the dead primary's lag grows: %s" % lag)
    load.stop()
    chain.start(pi, extra=["--metrics_listen=127.0.0.1:%d" % mports[pi]])

    def settled():
        hs = [chain.status(i)["height"] for i in range(4)]
        return len(set(hs)) == 1 and all(
            value(scrape(p, "v%d" % i), "provledger_node_height") == hs[i]
            for i, p in enumerate(mports))
    t.wait_for(settled, 240, "idle: every node's height gauge == its ledgerctl status height")
    t.log("view change counted, the dead peer's lag grew; idle heights equal status")

    # ---- 5. the bridge ---------------------------------------------------------------------
    bport = t.free_port()
    bridge = t.BridgeProc(chain, broker, extra=["--metrics_listen=127.0.0.1:%d" % bport])
    bridge.start()
    b1 = scrape(bport, "bridge")
    sims = []

    def sim_loop():
        t.device_sim(chain, broker, "--register", "--devices=3", "--device_prefix=m",
                     "--count=40", "--gateway_id=gw-1", "--ack_timeout_ms=120000", timeout=300)
        sims.append(1)
    th = threading.Thread(target=sim_loop, daemon=True)
    th.start()
    t.wait_for(lambda: value(scrape(bport, "bridge"), "provledger_bridge_committed_total") > 0,
               240, "bridge commits readings")
    th.join(timeout=320)
    t.check(sims, "device_sim finished")
    b2 = scrape(bport, "bridge")
    for fam in ("provledger_bridge_received_total", "provledger_bridge_committed_total"):
        t.check(value(b2, fam) > value(b1, fam), "bridge %s moved: %s -> %s"
                % (fam, value(b1, fam), value(b2, fam)))
    t.check(value(b2, "provledger_bridge_committed_total") >= 120, "120 readings out")
    t.check(value(b2, "provledger_bridge_submit_latency_seconds",
                  "provledger_bridge_submit_latency_seconds_count") > 0, "submit latency counted")
    t.check(value(b2, "provledger_bridge_outbox_depth") is not None, "outbox depth served")
    for fault in ("bad_mac", "stale"):
        t.device_sim(chain, broker, "--register", "--devices=1", "--device_prefix=mf-" +
                     fault.replace("_", "-"), "--count=2", "--fault=" + fault, timeout=180)
    b3 = scrape(bport, "bridge")
    by_code = {l["code"]: v for _, l, v in b3["provledger_bridge_refusals_total"]["samples"]}
    t.check(len(by_code) >= 2 and sum(by_code.values()) == value(b3, "provledger_bridge_refused_total"),
            "refusals by code add up to refused_total: %s vs %s"
            % (by_code, value(b3, "provledger_bridge_refused_total")))
    t.log("bridge: readings in/out move, latency counted, refusals by code: %s" % by_code)

    # ---- 6. the agent ----------------------------------------------------------------------
    admin = ["--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis, chain.nodes_flag()]
    os.makedirs(os.path.join(root, "devkeys"), exist_ok=True)
    t.ctl("keygen", "--out=%s/devkeys/%s.key" % (root, at.DEV))
    t.ctl("register-device", "--id=" + at.DEV, "--key=%s/devkeys/%s.key" % (root, at.DEV), *admin)
    digests = {}
    for line in at.LIST.splitlines():
        digests.setdefault(line.split()[4], []).append(line.split()[3][7:])
    digests["/bin/sh"].append(at.H_SH2)
    kfile = os.path.join(root, "keylime.json")
    with open(kfile, "w") as f:
        json.dump({"meta": {"version": 1}, "digests": digests, "excludes": []}, f)
    t.ctl("policy", "import", "--name=plant", "--file=" + kfile, *admin)
    t.ctl("policy", "bind", "--name=plant", "--device=" + at.DEV, *admin)
    t.wait_for(lambda: "ev=policy_bindings devices=1" in bridge.log(), 120,
               "the bridge loads the policy binding")
    with open(os.path.join(root, "ima_list"), "w") as f:
        f.write(at.LIST)
    with open(os.path.join(root, "boot_id"), "w") as f:
        f.write(at.BOOT + "\n")
    _, out, _ = t.ctl("pubkey", "--key=%s/gw-1.key" % root, "--json")
    gw_pub = json.loads(out)["pubkey"]
    cmd = at.agent_cmd(root, broker, gw_pub, at.DEV, root + "/agent-state", [])
    expect_exit2(cmd + ["--metrics_listen=127.0.0.1:%d" % bport], root + "/agent9.log",
                 "integrity_agent")
    aport = t.free_port()
    alog = open(root + "/agent.log", "w")
    agent = t.spawn(cmd + ["--metrics_listen=127.0.0.1:%d" % aport], stdout=alog,
                    stderr=subprocess.STDOUT)
    def appraised(n):
        """Waits for the agent's n-th appraised report; shows the agent's log if it never
        comes."""
        def pred():
            t.check(agent.poll() is None, "the agent exited: %s" % open(root + "/agent.log").read()[-3000:])
            return value(scrape(aport, "agent"), "provledger_agent_reports_total",
                         outcome="appraised") >= n
        try:
            t.wait_for(pred, 240, "the agent's report %d appraised" % n)
        except SystemExit:
            print(open(root + "/agent.log").read()[-4000:])
            print(bridge.log()[-3000:])
            raise
    appraised(1)
    a1 = scrape(aport, "agent")
    t.check(value(a1, "provledger_agent_measurements_total") == 3 and
            value(a1, "provledger_agent_reports_sent_total") >= 1 and
            value(a1, "provledger_agent_sessions_agreed_total") >= 1,
            "3 measurements in 1 report, a session: %s" % {k: total(a1, k) for k in a1})
    at.append(root, at.ima_line(at.H_SH2, "/bin/sh"))
    appraised(2)
    a2 = scrape(aport, "agent")
    t.check(value(a2, "provledger_agent_measurements_total") == 4 and
            value(a2, "provledger_agent_reports_sent_total") >
            value(a1, "provledger_agent_reports_sent_total"), "the agent's counters moved")
    agent.send_signal(signal.SIGTERM)
    t.check(agent.wait(timeout=60) == 0, "the agent stops on SIGTERM")
    t.log("agent: reports sent and appraised, measurements 3 -> 4")

    # ---- 7. ops/ files ---------------------------------------------------------------------
    served = set()
    for fams in [scrape(p, "v%d" % i) for i, p in enumerate(mports)] + [b3, a2]:
        for fam, f in fams.items():
            served.add(fam)
            if f["type"] == "histogram":
                served.update(fam + s for s in ("_bucket", "_sum", "_count"))
    dash = json.load(open(t.runfile("ops/grafana-dashboard.json")))
    exprs = [tg["expr"] for p in dash["panels"] for tg in p.get("targets", [])]
    t.check(len(exprs) >= 6, "the dashboard has its panels: %d queries" % len(exprs))
    for e in exprs:
        names = set(re.findall(r"provledger_[a-z_]+", e))
        t.check(names and names <= served, "dashboard query %r names unserved %s"
                % (e, names - served))
    prom = open(t.runfile("ops/prometheus.yml")).read()
    for target in ("v0:9100", "v3:9100", "f0:9100", "bridge:9100", "agent:9100"):
        t.check(target in prom, "ops/prometheus.yml scrapes %s" % target)
    t.log("ops/grafana-dashboard.json parses, its %d queries name served metrics" % len(exprs))
    bridge.kill(signal.SIGTERM)
    chain.stop_all()
    t.log("PASS")


if __name__ == "__main__":
    main()
