"""A light validator: 3 full validators and v3, declared "mode": "light" in the genesis
(ledgerctl genesis --light=v3), run with --mode=light --retain_age=1s. Under load v3 prunes
(ev=pruned, NodeStatus pruned_below) and votes on: with v0 killed, v1, v2 and v3 are the only
quorum, and the chain keeps committing. Resubmitting old records to v3 is refused as duplicates
(its indexes stay), an old record proves on v3 through a full validator, and verify-chain checks
v3's store. Refused at start, exit 1 with the reason: a genesis whose validators are all light
(ledgerctl genesis and ledger_node), and --mode=light for a validator the genesis declares full."""
import json
import re
import signal

import pltest as t
from follower_test import Load

N = 4


def heads_agree(chain, ids):
    sts = [chain.status(i) for i in ids]
    return all(sts) and len({(s["height"], s["head_hash"]) for s in sts}) == 1


def main():
    t.bins()
    root = t.tmpdir("light_validator")
    chain = t.Chain(root, n=N, light=("v3",))
    g = json.load(open(chain.genesis))
    t.check([v.get("mode") for v in g["validators"]] == [None, None, None, "light"],
            "only v3 is declared light: %s" % g["validators"])
    for i in range(3):
        chain.start(i)
    chain.start(3, extra=["--mode=light", "--retain_age=1s"])
    st = chain.status(3)
    t.check(st["mode"] == "light" and st["role"] == "validator", "v3 status: %s" % st)
    chain.register()

    load = Load(chain, seq=1000)
    t.wait_for(lambda: chain.status(3)["pruned_below"] > 20, 300, "v3 pruned past block 20")
    # v0 down: v1, v2 and v3 (light) are the last quorum; commits go on.
    chain.kill(0)
    h = chain.status(1)["height"]
    t.wait_for(lambda: chain.status(1)["height"] >= h + 10, 120,
               "10 more blocks without v0, voted with the light validator")
    acked = load.stop()
    t.wait_for(lambda: heads_agree(chain, [1, 2, 3]), 120, "v1, v2 and v3 at one head")
    st = chain.status(3)
    t.log("v3: height %d, bodies kept from %d, last prune %d -> %d bytes, %d acknowledged" %
          (st["height"], st["pruned_below"], st["prune_bytes_before"], st["prune_bytes_after"],
           len(acked)))
    pruned = re.findall(r"ev=pruned .*", open(root + "/v3.log").read())
    t.check(pruned, "v3 logged ev=pruned")
    t.log("last prune: %s" % pruned[-1])

    # Duplicate checks need only the indexes: old records sent again to v3 are not written.
    _, out, _ = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % root,
                      "--device=dev-1", "--device_key=%s/dev-1.key" % root,
                      "--genesis=" + chain.genesis, "--node=" + chain.addr(3), "--count=10",
                      "--seq=1000", "--json", timeout=120)
    outcomes = {r["outcome"] for r in json.loads(out)}
    t.check(outcomes <= {"duplicate", "conflict"}, "old seqs refused as duplicates: %s" % outcomes)

    old = sorted((hh, i) for i, hh in acked.items() if hh < st["pruned_below"])
    t.check(old, "an acknowledged record in a pruned block")
    _, _, err = t.ctl("prove", old[0][1], "--node=" + chain.addr(3), "--genesis=" + chain.genesis)
    t.check("proof verified" in err and "fetched from full node" in err,
            "an old record proves on v3 through a full validator: %s" % err)
    chain.stop_all()
    rc, out, err = t.ctl("verify-chain", "--data_dir=%s/v3" % root, "--genesis=" + chain.genesis,
                         check_rc=False, timeout=120)
    t.check(rc == 0 and "chain OK" in out, "verify-chain on the light validator: %s %s" % (out, err))

    # A validator the genesis declares full refuses --mode=light, and says why.
    logp = root + "/v1-light.log"
    p = t.spawn([t.LEDGER_NODE, "--mode=light", "--genesis=" + chain.genesis, "--node_id=v1",
                 "--key=%s/v1.key" % root, "--data_dir=%s/v1" % root], stderr=open(logp, "w"))
    t.check(p.wait(timeout=30) == 1, "a full-declared validator started light exits 1")
    msg = open(logp).read()
    t.check("declared full" in msg and "--light=v1" in msg, "and says why: %s" % msg)
    t.log("refused: %s" % msg.strip())

    # Every validator light: ledgerctl genesis refuses to write it, ledger_node to start on it.
    args = ["genesis", "--chain_id=alllight", "--out=%s/all-light.json" % root,
            "--admin=%s/admin.key" % root, "--light=" + ",".join(chain.ids)]
    for v, port in zip(chain.ids, chain.ports):
        args.append("--validator=%s:%s/%s.key:127.0.0.1:%d" % (v, root, v, port))
    rc, out, err = t.ctl(*args, check_rc=False)
    t.check(rc != 0 and "at least one must keep every block" in err, "genesis refused: %s" % err)
    for v in g["validators"]:
        v["mode"] = "light"
    with open(root + "/all-light.json", "w") as f:
        json.dump(g, f)
    logp = root + "/all-light.log"
    p = t.spawn([t.LEDGER_NODE, "--mode=light", "--genesis=%s/all-light.json" % root,
                 "--node_id=v3", "--key=%s/v3.key" % root, "--data_dir=%s/v3b" % root],
                stderr=open(logp, "w"))
    t.check(p.wait(timeout=30) == 1, "a node on an all-light genesis exits 1")
    t.check("at least one must keep every block" in open(logp).read(),
            "and says why: %s" % open(logp).read())
    print("PASS")


if __name__ == "__main__":
    main()
