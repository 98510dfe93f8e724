"""A light follower proves an old, pruned record through a full node, and refuses a lying one.

Four validators, a full follower f0 and two lying full nodes (tamper_proxy: forwards f0's
answers, flipping a byte of the record or of the audit path). The light follower
(--mode=light --retain_blocks=5 --full_nodes=PROXY,F0) prunes under load; asked for an old
record's proof it asks the proxy first, refuses its answer (ev=remote_proof_refused naming the
proxy), and answers with f0's, checked against its own header: `ledgerctl prove` against the
light node verifies with the genesis file, and so does the saved proof offline (verify-proof).
`ledgerctl record` says the record was proven and its payload is not kept there. Restarted with
only the other proxy as a full node and every validator stopped, it answers UNAVAILABLE naming
what each full node did."""
import json
import re
import subprocess

import pltest as t
from follower_test import Load, same_head

N = 4


def start_proxy(root, name, backend, tamper):
    port = t.free_port()
    logf = open("%s/%s.log" % (root, name), "w")
    p = t.spawn([t.runfile("tests/integration/tamper_proxy"), "--listen=127.0.0.1:%d" % port,
                 "--backend=" + backend, "--tamper=" + tamper],
                stdout=logf, stderr=subprocess.STDOUT)
    t.wait_for(lambda: "ready" in open("%s/%s.log" % (root, name)).read(), 20, name + " ready")
    return p, "127.0.0.1:%d" % port


def main():
    t.bins()
    root = t.tmpdir("light_fetch")
    chain = t.Chain(root, n=N)
    chain.start_all()
    chain.register()
    _, faddr = chain.start_follower("f0")
    _, proxy = start_proxy(root, "proxy-record", faddr, "record")
    _, proxy2 = start_proxy(root, "proxy-path", faddr, "path")
    light = ["--mode=light", "--retain_blocks=5"]
    lproc, laddr = chain.start_follower("l0", extra=light + ["--full_nodes=%s,%s" % (proxy, faddr)])

    load = Load(chain, seq=1000)
    t.wait_for(lambda: chain.status(laddr)["pruned_below"] > 10, 300,
               "the light follower pruned past block 10 under load")
    acked = load.stop()
    t.wait_for(lambda: same_head(chain, laddr) and same_head(chain, faddr), 120,
               "both followers at the validators' head")
    st = chain.status(laddr)
    t.log("light follower: height %d, bodies kept from %d, last prune %d -> %d bytes" %
          (st["height"], st["pruned_below"], st["prune_bytes_before"], st["prune_bytes_after"]))
    t.check(st["prune_bytes_before"] > 0, "NodeStatus reports the prune's bytes: %s" % st)
    old = sorted((h, i) for i, h in acked.items() if h < st["pruned_below"])
    t.check(old, "some acknowledged record is in a pruned block")
    height, rid = old[0]

    # prove against the light node: the proxy's answer is refused, f0's checked and served.
    rc, out, err = t.ctl("prove", rid, "--node=" + laddr, "--genesis=" + chain.genesis)
    t.check("proof verified" in err and ("fetched from full node " + faddr) in err,
            "the old record proves through f0: %s" % err)
    log = open(root + "/l0.log").read()
    refused = re.findall(r"ev=remote_proof_refused .*", log)
    t.check(any("full_node=" + proxy in line for line in refused),
            "the light node logged the proxy's refusal: %s" % refused)
    t.log("refusal: %s" % refused[0])
    # The proof it served stands on the genesis file alone (its header and certificate are the
    # light node's own, checked when it followed the chain).
    _, pj, _ = t.ctl("prove", rid, "--node=" + laddr, "--genesis=" + chain.genesis, "--json")
    proof = json.loads(pj)
    t.check(proof["height"] == height and proof["record_id"] == rid, "proof of that record")
    with open(root + "/old-proof.json", "w") as f:
        f.write(pj)
    rc, _, err = t.ctl("verify-proof", "--genesis=" + chain.genesis,
                       "--proof=%s/old-proof.json" % root)
    t.check("proof verified" in err, "the saved proof verifies offline: %s" % err)
    _, out, _ = t.ctl("record", rid, "--node=" + laddr)
    t.check("payload not kept here" in out and "payload (" not in out,
            "record says it was proven and the payload is not kept: %s" % out)
    rec = t.ctl_json("record", rid, "--node=" + laddr)
    t.check(rec["fetched_from"] == faddr and rec["height"] == height, "record json: %s" % rec)

    # Only a lying full node and no validator to ask: a clear UNAVAILABLE naming each.
    lproc.terminate()
    lproc.wait(timeout=20)
    chain.stop_all()
    lproc, laddr = chain.start_follower("l0", extra=light + ["--full_nodes=" + proxy2])
    rc, out, err = t.ctl("prove", rid, "--node=" + laddr, "--genesis=" + chain.genesis,
                         check_rc=False)
    t.log("with only the lying proxy: rc=%d %s" % (rc, err.strip()))
    t.check(rc != 0 and "UNAVAILABLE" in err.upper(), "unavailable: %s %s" % (out, err))
    t.check(proxy2 + " answered wrong (refused): audit path" in err,
            "names the proxy's wrong answer: %s" % err)
    for i in range(N):
        t.check(chain.addr(i) + " did not answer it" in err, "names validator %d: %s" % (i, err))
    # A record still kept here is served as before.
    recent = max(acked, key=lambda i: acked[i])
    t.ctl("prove", recent, "--node=" + laddr, "--genesis=" + chain.genesis)
    print("PASS")


if __name__ == "__main__":
    main()
