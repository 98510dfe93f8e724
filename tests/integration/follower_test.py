"""A follower node (ledger_node --follow, not a genesis validator, no key) beside four real
validators under a load of gateway batches: it reaches the validators' height and head
hash, proves every acknowledged record with the genesis file alone, forwards a submission
sent to it (which commits), and after kill -9, more load and a restart catches up to the
same head."""
import json
import os
import signal

import pltest as t

N = 4


Load = t.SubmitLoop


def same_head(chain, faddr):
    """True when every running validator and the follower stand at one height and head."""
    sts = [chain.status(i) for i in sorted(chain.procs)] + [chain.status(faddr)]
    if any(s is None for s in sts):
        return False
    return len({(s["height"], s["head_hash"]) for s in sts}) == 1


def main():
    t.bins()
    root = t.tmpdir("follower")
    chain = t.Chain(root, n=N)
    chain.start_all()
    chain.register()
    fproc, faddr = chain.start_follower("f0")
    st = chain.status(faddr)
    t.check(st["role"] == "follower" and st["node_id"] == "f0", "follower status: %s" % st)
    t.check(chain.status(0)["role"] == "validator", "validators say so")

    load = Load(chain, seq=1000)
    t.wait_for(lambda: load.count() >= 100, 180, "100 records acknowledged under load")
    # Following while the load runs: the follower holds blocks the validators cut meanwhile.
    t.wait_for(lambda: chain.status(faddr)["height"] >= 3, 60, "the follower to follow")
    acked = load.stop()
    t.wait_for(lambda: same_head(chain, faddr), 120, "the follower at the validators' head")
    st = chain.status(faddr)
    t.log("follower at height %d, %d records, %d acknowledged" %
          (st["height"], st["records"], len(acked)))
    t.check(st["records"] == chain.status(0)["records"], "as many records as v0")
    t.check(st["devices"] == 1 and st["gateways"] == 1, "registry followed: %s" % st)

    ids_file = os.path.join(root, "acked_ids.txt")
    with open(ids_file, "w") as f:
        f.write("\n".join(sorted(acked)) + "\n")
    rc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file, "--genesis=" + chain.genesis,
                         "--node=" + faddr, check_rc=False, timeout=180)
    t.check(rc == 0 and out.strip() == "%d verified, 0 failed" % len(acked),
            "the follower proves every acknowledged record: rc=%d %s %s" % (rc, out, err[-2000:]))
    one = sorted(acked)[0]
    t.ctl("prove", one, "--node=" + faddr, "--genesis=" + chain.genesis)
    hist = t.ctl_json("history", "--device=dev-1", "--all", "--limit=1000", "--node=" + faddr)
    t.check(len(hist) == len(acked), "history on the follower: %d of %d" % (len(hist), len(acked)))

    # A submission sent to the follower is forwarded and commits.
    _, out, _ = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                      "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                      "--genesis=" + chain.genesis, "--node=" + faddr, "--count=5",
                      "--seq=900000", "--json", timeout=120)
    res = json.loads(out)
    t.check(len(res) == 5 and all(r["outcome"] == "committed" for r in res),
            "forwarded submission committed: %s" % res)
    for r in res:
        acked[r["record_id"]] = r["height"]
    t.wait_for(lambda: chain.status(faddr)["height"] >= max(r["height"] for r in res), 60,
               "the follower to hold the forwarded records")
    rec = t.ctl_json("record", res[0]["record_id"], "--node=" + faddr)
    t.check(rec["height"] == res[0]["height"], "forwarded record where it was acknowledged")

    # kill -9, more load, restart: catches up to the same head.
    fproc.send_signal(signal.SIGKILL)
    fproc.wait(timeout=20)
    load = Load(chain, seq=2000000)
    t.wait_for(lambda: load.count() >= 60, 180, "more records while the follower is down")
    fproc, faddr = chain.start_follower("f0")
    more = load.stop()
    acked.update(more)
    t.wait_for(lambda: same_head(chain, faddr), 120, "the restarted follower at the head")
    with open(ids_file, "w") as f:
        f.write("\n".join(sorted(acked)) + "\n")
    rc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file, "--genesis=" + chain.genesis,
                         "--node=" + faddr, check_rc=False, timeout=180)
    t.check(rc == 0 and out.strip() == "%d verified, 0 failed" % len(acked),
            "after the restart: rc=%d %s %s" % (rc, out, err[-2000:]))
    t.log("restarted follower at height %d: %s" % (chain.status(faddr)["height"], out.strip()))

    # v0 (the primary of view 0, and the validator a follower asks first) killed: the
    # follower's forwarded submission fails over and commits after the view change, and the
    # follower fetches from the others.
    chain.kill(0)
    _, out, _ = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                      "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                      "--genesis=" + chain.genesis, "--node=" + faddr, "--count=5",
                      "--seq=950000", "--json", timeout=180)
    res = json.loads(out)
    t.check(len(res) == 5 and all(r["outcome"] == "committed" for r in res),
            "forwarded with v0 down: %s" % res)
    t.wait_for(lambda: same_head(chain, faddr), 120, "the follower at the head without v0")
    t.check(chain.status(faddr)["height"] >= res[0]["height"], "follower holds them")
    t.log("v0 down: forwarded records at height %d, follower in step" % res[0]["height"])

    # A follower id that is a validator is refused.
    p = t.spawn([t.LEDGER_NODE, "--follow", "--genesis=" + chain.genesis, "--node_id=v1",
                 "--listen=127.0.0.1:%d" % t.free_port(), "--data_dir=%s/bad" % root],
                stderr=open(root + "/bad.log", "w"))
    t.check(p.wait(timeout=30) == 1, "--follow as a validator id exits 1")

    fproc.send_signal(signal.SIGTERM)
    fproc.wait(timeout=20)
    chain.stop_all()
    rc, out, err = t.ctl("verify-chain", "--data_dir=%s/f0" % root, "--genesis=" + chain.genesis,
                         check_rc=False, timeout=120)
    t.check(rc == 0 and "chain OK" in out, "verify-chain on the follower: %s %s" % (out, err))
    print("PASS")


if __name__ == "__main__":
    main()
