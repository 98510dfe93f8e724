"""Joining from a checkpoint after the validator set changed (docs/CATCHUP.md, docs/VALIDATOR_SET.md).

Four genesis validators (--state_interval=16) commit under load; v4 starts as a keyed
follower. Three changes commit back to back: v4 added (4 -> 5), v3 removed, v2's key replaced
(v2 holds it as --next_key). Once the last is in force the set is {v0, v1, v2 (new key), v4},
q = 3, and every checkpoint above it is attested by that set: v4 attests (a validator not in the
genesis), v2 with its new key, and the removed v3 (still running, as a follower, holding its
genesis key) attests nothing above its removal. Then:
  - v0 is killed; an empty follower f0 joins with --catch_up=checkpoint: the checkpoint it picks
    is above the change, counted with the set in force there (signers v1, v2, v4; q = 3), its
    headers are checked against the set at each height, and it follows the chain on;
  - v4 is killed too (the chain stalls: 2 of 4); an empty f1 asks for a checkpoint and must
    refuse: v1 and v2 alone are no quorum of the set in force, and the removed v3's word does not
    count, although three genesis validators (v1, v2, v3) are alive and a genesis-only check
    would have taken it."""
import json
import re
import signal
import subprocess

import pltest as t
from validator_set_test import Extra, change, in_epoch, status_of

N = 4
STATE = ["--state_interval=16"]


def attested_heights(logfile):
    return [int(h) for h in re.findall(r"ev=state_attested height=(\d+)", open(logfile).read())]


def start_joiner(chain, name, extra):
    """An empty follower `name` with --catch_up=checkpoint: (process, address, log file)."""
    port = chain.follower_ports.setdefault(name, t.free_port())
    addr = "127.0.0.1:%d" % port
    logfile = "%s/%s.log" % (chain.root, name)
    logf = open(logfile, "a")
    p = t.spawn(t.follower_argv(chain.root, chain.genesis, name, addr) + STATE +
                ["--catch_up=checkpoint"] + list(extra), stdout=logf, stderr=subprocess.STDOUT)
    return p, addr, logfile


def main():
    t.bins()
    root = t.tmpdir("catchup_vset")
    chain = t.Chain(root, n=N)
    _, out, _ = t.ctl("keygen", "--out=%s/v2-next.key" % root)
    v2_next_pub = out.strip().split()[-1]
    for i in range(N):
        chain.start(i, STATE + (["--next_key=%s/v2-next.key" % root] if i == 2 else []))
    chain.register()
    v4 = Extra(chain, "v4")
    v4.start(STATE)
    addrs = [chain.addr(i) for i in range(N)] + [v4.addr]

    load = t.SubmitLoop(chain, seq=1000, count=5, timeout_ms=20000)
    t.wait_for(lambda: load.count() >= 20, 60, "20 records acknowledged under load")
    change(chain, "add", "--id=v4", "--pubkey=" + v4.pubkey, "--address=" + v4.addr)
    change(chain, "remove", "--id=v3")
    last = change(chain, "rekey", "--id=v2", "--pubkey=" + v2_next_pub)
    end = last["in_force_above"]
    final = ["v0", "v1", "v2", "v4"]
    t.wait_for(lambda: in_epoch(addrs, end, final), 180, "every node in epoch %d" % end)
    t.check(status_of(chain.addr(3))["role"] == "follower", "v3 follows now")
    t.check(status_of(v4.addr)["role"] == "validator", "v4 validates")

    # Two pinned states above the end (store keeps the latest two), each attested by the set
    # in force there, v4 and the rekeyed v2 among them.
    def attested_above(name, above, count=2):
        return len([h for h in attested_heights("%s/%s.log" % (root, name)) if h > above]) >= count
    t.wait_for(lambda: all(attested_above(n, end) for n in final), 240,
               "v0, v1, v2 and v4 attest two states above %d" % end)
    v3_heights = attested_heights(root + "/v3.log")
    t.check(v3_heights and max(v3_heights) <= end,
            "the removed v3 attests nothing above %d: %s" % (end, v3_heights[-3:]))
    t.check("ev=state_attest_skipped" in open(root + "/v3.log").read(),
            "v3 logs the heights it no longer attests")

    # v0 down: the set's three others are a quorum (q(4) = 3), v4 and the new-key v2 needed.
    chain.kill(0)
    killed_at = status_of(chain.addr(1))["height"]
    before = load.count()
    t.wait_for(lambda: load.count() > before + 10, 120, "v1, v2 and v4 commit without v0")
    t.wait_for(lambda: all(attested_above(n, killed_at, 1) for n in ("v1", "v2", "v4")), 240,
               "a state above %d attested without v0" % killed_at)
    fproc, faddr, flog = start_joiner(chain, "f0", [])
    t.wait_for(lambda: "ev=state_installed" in open(flog).read() or fproc.poll() is not None,
               300, "f0 to install a checkpoint")
    log = open(flog).read()
    t.check(fproc.poll() is None and "ev=state_installed" in log,
            "f0 joined from a checkpoint: rc=%s %s" % (fproc.poll(), log[-3000:]))
    m = re.search(r"ev=checkpoint_chosen height=(\d+) .*quorum=(\d+) signers=(\S+)", log)
    t.check(m, "f0 logs the checkpoint chosen: %s" % log[-2000:])
    cp, quorum, signers = int(m.group(1)), int(m.group(2)), m.group(3).split(",")
    t.check(cp > end and quorum == 3 and "v4" in signers and "v2" in signers and
            "v3" not in signers and "v0" not in signers and len(signers) >= 3,
            "checkpoint %d above %d counted with the set in force (q=%d, signers %s)" %
            (cp, end, quorum, signers))
    t.check(re.search(r"ev=state_installed height=%d .*validators=4" % cp, log),
            "the headers gave the 4-member set at %d" % cp)
    # The state is installed before the node serves: ask once it says it is ready.
    t.wait_for(lambda: "ev=node_ready" in open(flog).read() or fproc.poll() is not None, 120,
               "f0 to serve after installing the checkpoint")
    t.check(fproc.poll() is None, "f0 runs after the install: %s" % open(flog).read()[-2000:])
    rc, out, err = t.ctl("block", "1", "--node=" + faddr, check_rc=False)
    t.check(rc != 0 and "pruned" in out + err, "block 1 was never fetched by f0: %s %s" % (out, err))

    def f0_at_head():
        a, b = status_of(chain.addr(1)), status_of(faddr)
        return a and b and b["height"] >= a["height"] and b["height"] > cp
    t.wait_for(f0_at_head, 120, "f0 follows the chain above its checkpoint")
    acked = load.stop()
    newest = max(acked.items(), key=lambda kv: kv[1])
    t.wait_for(lambda: status_of(faddr)["height"] >= newest[1], 60, "f0 has the newest record")
    rec = t.ctl_json("record", newest[0], "--node=" + faddr)
    t.check(rec["height"] == newest[1], "f0 serves the newest record: %s" % rec)
    t.log("f0 joined at %d (set in force above %d, signers %s)" % (cp, end, ",".join(signers)))

    # v4 down as well: v1 and v2 are no quorum of {v0, v1, v2, v4}; the removed v3 (alive,
    # holding its genesis key) adds nothing.
    v4.proc.send_signal(signal.SIGKILL)
    v4.proc.wait(timeout=20)
    gproc, gaddr, glog = start_joiner(chain, "f1", [])
    rc = gproc.wait(timeout=300)
    log = open(glog).read()
    t.check(rc == 1 and "no checkpoint attested by a quorum of the validator set in force" in log,
            "f1 refuses to join without a quorum of the current set: rc=%d %s" % (rc, log[-2000:]))
    t.check("ev=state_installed" not in log, "f1 installed nothing")

    t.log("PASS")
    fproc.send_signal(signal.SIGTERM)
    fproc.wait(timeout=20)
    chain.stop_all()


if __name__ == "__main__":
    main()
