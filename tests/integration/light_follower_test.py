"""A light follower (ledger_node --follow --mode=light --retain_blocks=5) and a full follower
beside four real validators under a load of gateway batches: both reach the validators' head,
the light one prunes old block bodies (ev=pruned in its log) and its chain folder is smaller
than the full follower's; a recent record proves on it with the genesis file, an old one
proves there through a full validator (fetched, checked against its header; payload not
kept) and on the full follower; killed, it catches up and prunes on; a validator the genesis
declares full refuses --mode=light; verify-chain checks the light store."""
import json
import os
import re
import signal

import pltest as t
from follower_test import Load, same_head

N = 4


def dir_bytes(path):
    """Bytes of a store's data files (as the ev=pruned figures: no LOG or OPTIONS files)."""
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            if f.startswith("LOG") or f.startswith("OPTIONS"):
                continue
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def main():
    t.bins()
    root = t.tmpdir("light_follower")
    chain = t.Chain(root, n=N)
    chain.start_all()
    chain.register()
    _, faddr = chain.start_follower("f0")
    lproc, laddr = chain.start_follower("l0", extra=["--mode=light", "--retain_blocks=5"])
    st = chain.status(laddr)
    t.check(st["role"] == "follower" and st["mode"] == "light", "light status: %s" % st)
    t.check(chain.status(faddr)["mode"] == "full", "the other follower is full")

    load = Load(chain, seq=1000)
    t.wait_for(lambda: chain.status(laddr)["height"] >= 40, 300,
               "the light follower past 40 blocks under load")
    acked = load.stop()
    t.wait_for(lambda: same_head(chain, laddr) and same_head(chain, faddr), 120,
               "both followers at the validators' head")
    st = chain.status(laddr)
    t.check(st["records"] == chain.status(0)["records"], "as many records as v0")
    t.check(st["devices"] == 1 and st["gateways"] == 1, "registry kept: %s" % st)

    log = open(root + "/l0.log").read()
    pruned = re.findall(r"ev=pruned .*", log)
    t.check(pruned, "the light follower logged ev=pruned")
    t.log("last prune: %s" % pruned[-1])
    light_b = dir_bytes(root + "/l0/chain")
    full_b = dir_bytes(root + "/f0/chain")
    t.log("chain dir at height %d: full follower %d bytes, light follower %d bytes" %
          (st["height"], full_b, light_b))
    for name in ("f0", "l0"):
        d = root + "/" + name + "/chain"
        t.log("%s: %s" % (name, sorted((f, os.path.getsize(d + "/" + f)) for f in os.listdir(d))))
    t.check(light_b < full_b, "the light chain dir is smaller")

    head = st["height"]
    recent = [i for i, h in acked.items() if h > head - 5]
    old = [i for i, h in acked.items() if h < head - 20]
    t.check(recent and old, "records both recent and old: %d %d" % (len(recent), len(old)))
    t.ctl("prove", recent[0], "--node=" + laddr, "--genesis=" + chain.genesis)
    # An old record's body is pruned here: fetched from a full validator, checked, proven.
    rc, out, err = t.ctl("prove", old[0], "--node=" + laddr, "--genesis=" + chain.genesis)
    t.check("fetched from full node" in err and "proof verified" in err,
            "an old record proves through a full node: %s" % err)
    rc, out, err = t.ctl("record", old[0], "--node=" + laddr)
    t.check("payload not kept here" in out, "record of an old one too: %s %s" % (out, err))
    t.ctl("prove", old[0], "--node=" + faddr, "--genesis=" + chain.genesis)
    # The light follower dropped the index entries of pruned blocks: its own store no longer
    # knows the old record (asked offline below); a lookup by (device, seq) and a history
    # over old blocks go to a full node too, checked against its headers.
    full_rec = t.ctl_json("record", old[0], "--node=" + faddr)
    rc, out, err = t.ctl("record", "--device=" + full_rec["device"], "--seq=%d" % full_rec["seq"],
                         "--node=" + laddr, "--json")
    by_seq = json.loads(out)
    t.check(by_seq["record_id"] == old[0] and by_seq["height"] == acked[old[0]] and
            by_seq.get("fetched_from"), "an old record by (device, seq) via a full node: %s" % out)
    rc, out, err = t.ctl("history", "--device=" + full_rec["device"], "--all", "--json",
                         "--node=" + laddr, timeout=180)
    lhist = json.loads(out)
    fhist = t.ctl_json("history", "--device=" + full_rec["device"], "--all", "--node=" + faddr)
    t.check("forwarded to full node" in err and lhist == fhist and
            any(e["record_id"] == old[0] for e in lhist),
            "history over pruned blocks via a full node, the same as the full follower's "
            "(%d entries): %s" % (len(lhist), err))
    last = pruned[-1]
    before = int(re.search(r"bytes_before=(\d+)", last).group(1))
    after = int(re.search(r"bytes_after=(\d+)", last).group(1))
    deleted = int(re.search(r"index_entries_deleted=(\d+)", last).group(1))
    t.check(deleted > 0 and after < before, "the last prune dropped index entries and shrank "
            "the store: %s" % last)

    # kill -9, more load, restart: it catches up and keeps pruning; old records stay pruned.
    lproc.send_signal(signal.SIGKILL)
    lproc.wait(timeout=20)
    load = Load(chain, seq=2000000)
    t.wait_for(lambda: chain.status(0)["height"] >= head + 15, 300, "15 more blocks")
    lproc, laddr = chain.start_follower("l0", extra=["--mode=light", "--retain_blocks=5"])
    more = load.stop()
    t.wait_for(lambda: same_head(chain, laddr), 120, "the restarted light follower at the head")
    newest = max(more, key=lambda i: more[i])
    t.ctl("prove", newest, "--node=" + laddr, "--genesis=" + chain.genesis)
    rc, out, err = t.ctl("prove", old[0], "--node=" + laddr, "--genesis=" + chain.genesis)
    t.check("fetched from full node" in err, "still pruned after the restart: %s" % err)
    n_pruned = len(re.findall(r"ev=pruned ", open(root + "/l0.log").read()))
    t.check(n_pruned > len(pruned), "pruned again after the restart (%d)" % n_pruned)
    t.log("restarted light follower at height %d" % chain.status(laddr)["height"])

    # A validator refuses to start light.
    p = t.spawn([t.LEDGER_NODE, "--mode=light", "--genesis=" + chain.genesis, "--node_id=v1",
                 "--key=%s/v1.key" % root, "--data_dir=%s/bad" % root],
                stderr=open(root + "/bad.log", "w"))
    t.check(p.wait(timeout=30) == 1, "a light validator exits 1")
    t.check("declared full" in open(root + "/bad.log").read(), "and says why")
    lproc.terminate()
    lproc.wait(timeout=20)
    chain.stop_all()
    rc, out, err = t.ctl("verify-chain", "--data_dir=%s/l0" % root, "--genesis=" + chain.genesis,
                         check_rc=False, timeout=120)
    t.check(rc == 0 and "chain OK" in out, "verify-chain on the light follower: %s %s" % (out, err))
    print("PASS")


if __name__ == "__main__":
    main()
