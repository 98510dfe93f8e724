"""A change sent right after an epoch switch commits although a member switches later
(docs/RELIABILITY.md, Sanitizers, finding 15; "validator_set_test at the epoch switch", 18).
A one-validator genesis, v1 a follower holding its key: `validator add v1` makes v0 cut
empty blocks up to E. v1 is stopped (SIGSTOP) meanwhile, so v0 starts epoch E first and
proposes a second `validator add` at once, to a v1 that still follows and drops it; v1 is
resumed and becomes a member when it applied E. Only the new primary sending its
pre-prepare again to the member it has no vote of makes the change commit. Before that fix
the second add hung until its deadline (30 s): both nodes in epoch E, view 0, v0 holding the
batch. The waits are hang guards; no time is judged."""
import json
import signal
import subprocess
import time

import pltest as t


def main():
    t.bins()
    root = t.tmpdir("epoch_handover")
    chain = t.Chain(root, n=1, chain_id="handover")
    t.ctl("keygen", "--out=%s/v1.key" % root)
    t.ctl("keygen", "--out=%s/v2.key" % root)
    chain.start(0)
    v1_proc, v1 = chain.start_follower("v1", ["--key=%s/v1.key" % root])
    g = "--genesis=" + chain.genesis
    admin = "--admin_key=%s/admin.key" % root
    node = "--node=" + chain.addr(0)
    out = json.loads(t.ctl("validator", "add", "--id=v1", "--pubkey=%s/v1.key" % root,
                           "--address=" + v1, admin, g, node, "--json")[1])
    end = out["in_force_above"]
    t.log("add v1 committed at", out["height"], "in force above", end)

    # v1 is stopped before it reaches E, so it switches after v0 for certain: v0, alone in
    # the genesis set, reaches E and starts the new epoch; the change sent then is proposed
    # by v0's new orderer at once, and the proposal reaches v1 while it still follows (a
    # follower drops consensus deliveries). v1 becomes a member when it applied E after
    # SIGCONT, and nothing but the new primary's resend brings it the proposal.
    v1_proc.send_signal(signal.SIGSTOP)
    try:
        t.wait_for(lambda: chain.status(0)["epoch"] == end, 60, "v0 in epoch %d" % end)
        # v2 never runs: the set {v0, v1, v2} (f = 0, q = 2) is live with v0 and v1.
        argv = t.with_transport([t.LEDGERCTL, "validator", "add", "--id=v2",
                                 "--pubkey=%s/v2.key" % root,
                                 "--address=127.0.0.1:%d" % t.free_port(), admin, g, node,
                                 "--timeout_ms=30000", "--json"])
        t0 = time.time()
        add = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # v0 proposes the change to a stopped v1
    finally:
        v1_proc.send_signal(signal.SIGCONT)
    text, err = add.communicate(timeout=90)
    rc = add.returncode
    t.log("second add: rc=%d after %.1f s" % (rc, time.time() - t0))
    t.check(rc == 0, "the change sent at E=%d commits once v1 switched: rc=%d %s %s" %
            (end, rc, text.strip()[:300], err.strip()[-600:]))
    res = json.loads(text)
    e2 = res["in_force_above"]
    t.log("add v2 committed at", res["height"], "in force above", e2)
    t.check(res["height"] > end, "ordered by the new epoch's core: %s" % res)

    def in_epoch(addr, epoch):
        st = chain.status(addr)
        return st is not None and st["epoch"] == epoch and st["height"] >= epoch

    t.wait_for(lambda: in_epoch(chain.addr(0), e2) and in_epoch(v1, e2), 120,
               "v0 and v1 in epoch %d" % e2)
    t.log("ok: v0 and v1 in epoch", e2)


if __name__ == "__main__":
    main()
