"""ops/cluster as an operator runs it: `up --netns` from an empty folder (four validators and a
follower, each in its own network namespace on a private bridge), `ledgerctl submit` load from
three clients failing over across the validators, `partition` of the primary under load
(the others change view and commits resume), `heal` (it catches up, rejoins their view, and
they count it in it again), every acknowledged record provable on every node, then `down`:
no process, namespace, bridge or veth left behind.

Runs as root only: skipped (exit 0, "SKIPPED: ...") where network namespaces cannot be made.
"""
import json
import os
import random
import subprocess
import sys
import time

import pltest as t

VIEW_CHANGE_MS = 1000
DEVICES = ("dev-1", "dev-2", "dev-3")


def skip(why):
    print("SKIPPED: launcher_test: %s" % why, flush=True)
    sys.exit(0)


def cluster_script():
    if os.environ.get("TEST_SRCDIR"):
        return os.path.join(os.environ["TEST_SRCDIR"], t.WS, "ops", "cluster")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ops",
                        "cluster")


class Cluster:
    """Runs ops/cluster on one folder; also the chain as pltest.SubmitLoad sees it."""

    def __init__(self, root):
        self.root = root
        self.script = cluster_script()

    def run(self, *args, check=True, timeout=180):
        p = subprocess.run([sys.executable, self.script, "--dir=" + self.root] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            t.fail("ops/cluster %s: rc=%d\n%s%s" % (" ".join(args), p.returncode, p.stdout,
                                                    p.stderr))
        return p

    def load_state(self):
        with open(os.path.join(self.root, "cluster.json")) as f:
            self.state = json.load(f)
        self.genesis = self.state["genesis"]
        self.nodes = [p for p in self.state["procs"] if p["kind"] in ("validator", "follower")]
        self.ids = [p["name"] for p in self.nodes if p["kind"] == "validator"]
        return self.state

    def addr(self, i):
        return self.nodes[i]["addr"] if isinstance(i, int) else \
            next(p["addr"] for p in self.nodes if p["name"] == i)

    def nodes_flag(self):
        return "--node=" + ",".join(self.addr(v) for v in self.ids)

    def status(self, i):
        rc, out, _ = t.ctl("status", "--json", "--node=" + self.addr(i), "--timeout_ms=2000",
                           check_rc=False)
        return json.loads(out) if rc == 0 else None


def process_gone(pid, start):
    """True when `pid` no longer runs the process started at `start` (a zombie has ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return fields[0] in ("Z", "X") or fields[19] != start


def converge(c, names, timeout=30):
    got = {}

    def same():
        got.update({n: c.status(n) for n in names})
        vals = {(s["height"], s["head_hash"]) for s in got.values() if s}
        return len(vals) == 1 and all(got[n] for n in names)
    t.wait_for(same, timeout, "%s to agree; last seen %s" % (
        names, {n: (s["height"], s["head_hash"][:12]) if s else None for n, s in got.items()}))
    return got[names[0]]


def main():
    if os.geteuid() != 0:
        skip("network namespaces need root (running as uid %d)" % os.geteuid())
    probe = "plprobe%06x" % random.randrange(1 << 24)
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode != 0:
        skip("this machine forbids network namespaces (ip netns add: %s)" % p.stderr.strip())
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    t.bins()

    root = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), "launcher-cluster")
    subprocess.run(["rm", "-rf", root], check=True)
    t.watch_logs(root)
    c = Cluster(root)
    downed = False
    try:
        t0 = time.time()
        out = c.run("up", "--netns", "--validators=4", "--followers=1",
                    "--node_arg=--view_change_timeout_ms=%d" % VIEW_CHANGE_MS).stdout
        t.log("up from an empty folder in %.1fs:\n%s" % (time.time() - t0, out))
        st = c.load_state()
        prefix, bridge = st["net"]["prefix"], st["net"]["bridge"]
        t.check(len(st["net"]["namespaces"]) == 5, "one namespace per node: %s" %
                st["net"]["namespaces"])
        again = c.run("up", "--netns", check=False)
        t.check(again.returncode == 2 and "already up" in again.stderr,
                "a second up in the same folder says the cluster is up: rc=%d %s" %
                (again.returncode, again.stderr))

        for d in DEVICES:
            t.ctl("keygen", "--out=%s/%s.key" % (root, d))
            t.ctl("register-device", "--id=" + d, "--key=%s/%s.key" % (root, d),
                  "--admin_key=" + st["admin_key"], "--genesis=" + c.genesis, c.nodes_flag())
        load = t.SubmitLoad(c, threads=3, timeout_ms=3 * VIEW_CHANGE_MS, devices=DEVICES)
        t.wait_for(lambda: load.count() >= 100, 60, "100 acknowledged records before the cut")

        s0 = c.status("v0")
        cut, view0 = s0["primary"], s0["view"]
        others = [v for v in c.ids if v != cut]
        watchers = others + ["f0"]
        h_cut = max(c.status(v)["height"] for v in others)
        acked_cut = load.count()
        c.run("partition", cut)
        t_cut = time.time()
        t.log("partitioned the primary %s (view %d, height %d, %d acked)" %
              (cut, view0, h_cut, acked_cut))
        shown = c.run("status").stdout
        t.check(any(l.split()[:2] == [cut, "cut"] for l in shown.splitlines()),
                "status shows %s cut off:\n%s" % (cut, shown))

        seen = {}

        def resumed():
            seen.update({v: c.status(v) for v in others})
            views = {s["view"] for s in seen.values()}
            return (len(views) == 1 and views.pop() > view0 and
                    all(s["primary"] != cut and s["height"] >= h_cut + 3 for s in seen.values())
                    and load.count() >= acked_cut + 60)
        t.wait_for(resumed, 60, "the others to change view and commit without %s; last seen %s,"
                   " %d acked" % (cut, {v: (s["view"], s["height"]) for v, s in seen.items()},
                                  load.count()))
        new_view = seen[others[0]]["view"]
        t.log("commits resumed %.1fs after the cut: view %d (primary %s), %d acked" %
              (time.time() - t_cut, new_view, seen[others[0]]["primary"], load.count()))

        target = max(c.status(v)["height"] for v in others)
        c.run("heal", cut)
        t_heal = time.time()

        def rejoined():
            s = c.status(cut)
            view = c.status(others[0])["view"]
            return (s["height"] >= target and s["view"] == view and not s["view_changing"] and
                    s["peers_in_view"] == len(others) and
                    all(c.status(v)["peers_in_view"] == len(others) for v in others))
        t.wait_for(rejoined, 60, "%s to catch up to height %d and rejoin the others' view" %
                   (cut, target))
        t.log("%s caught up past height %d and is in the others' view %.1fs after heal" %
              (cut, target, time.time() - t_heal))
        time.sleep(1)  # a little load with the healed node back in
        load.stop()
        t.check(load.outcomes.get("conflict", 0) == 0, "no conflicts: %s" % load.outcomes)
        final = converge(c, c.ids + ["f0"])
        acked = dict(load.acked)
        t.log("%d acknowledged records, outcomes %s, %d failed submissions; final height %d" %
              (len(acked), load.outcomes, load.failures, final["height"]))
        ids_file = os.path.join(root, "acked_ids.txt")
        with open(ids_file, "w") as f:
            f.write("\n".join(sorted(acked)) + "\n")
        for n in c.ids + ["f0"]:
            rc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file, "--genesis=" + c.genesis,
                                 "--node=" + c.addr(n), check_rc=False, timeout=120)
            t.check(rc == 0 and out.strip() == "%d verified, 0 failed" % len(acked),
                    "%s proves every acknowledged record: rc=%d %s %s" % (n, rc, out,
                                                                         err[-2000:]))
        t.log("every acknowledged record proven on %s" % " ".join(c.ids + ["f0"]))

        procs = [(p["name"], p["pid"], p["start"]) for p in c.load_state()["procs"]]
        out = c.run("down").stdout
        downed = True
        t.log(out.strip())
        t.wait_for(lambda: all(process_gone(pid, start) for _, pid, start in procs), 10,
                   "every process the cluster started to end")
        t.check(not os.path.exists(os.path.join(root, "cluster.json")), "down removes the state")
        left = [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout.split() if ns.startswith(prefix)]
        t.check(not left, "namespaces left behind: %s" % left)
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        t.check(prefix not in links, "links left behind (bridge %s or veths):\n%s" %
                (bridge, links))
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        t.check("plcut" not in tables, "nft tables left behind: %s" % tables)
        t.log("down left no process, namespace, bridge, veth or nft table")
        print("PASS", flush=True)
    finally:
        if not downed and os.path.exists(os.path.join(root, "cluster.json")):
            print(c.run("down", check=False).stdout, flush=True)


if __name__ == "__main__":
    main()
