"""Joining a chain from a checkpoint (ledger_node --catch_up=checkpoint, docs/CATCHUP.md).

Four real validators (--state_interval=16) build a chain of ~150+ blocks under load, with
devices registered at different heights; a full follower t0 follows it by blocks. t0 is then
stopped and one (device, seq) index entry is dropped from its store, so the state it serves
differs from the one the validators attest. An empty follower f0 joins from a checkpoint with
t0 as its first state source: it refuses t0's state (ev=state_refused), installs the attested
one from a validator (ev=state_installed; block 1 was never fetched: "pruned"), knows the
devices registered before it, proves records committed after it, answers "pruned" for a body
below it, and a resubmitted old reading answers DUPLICATE. A light follower joins the same
way. Then validator v3 is wiped and
rejoins from a checkpoint; with v2 down the chain commits only with v3's votes, and v3 itself
refuses an old (device, seq) as DUPLICATE from the indexes the checkpoint gave it."""
import json
import re
import shutil
import signal
import time

import pltest as t
from follower_test import Load, same_head

N = 4
STATE = ["--state_interval=16"]


def submit(chain, node, seq, count=1, device="dev-1", ts=0):
    """ledgerctl submit --json; a fixed `ts` makes the records repeatable (same ids)."""
    args = ["submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % chain.root,
            "--device=" + device, "--device_key=%s/%s.key" % (chain.root, device),
            "--genesis=" + chain.genesis, "--node=" + node, "--count=%d" % count,
            "--seq=%d" % seq, "--json"]
    if ts:
        args.append("--ts=%d" % ts)
    _, out, _ = t.ctl(*args, timeout=120)
    return json.loads(out)


def register_device(chain, d):
    t.ctl("keygen", "--out=%s/%s.key" % (chain.root, d))
    t.ctl("register-device", "--id=" + d, "--key=%s/%s.key" % (chain.root, d),
          "--admin_key=%s/admin.key" % chain.root, "--genesis=" + chain.genesis, chain.nodes_flag())


def grow(chain, blocks, seq):
    """Runs two submitters until the chain is `blocks` higher; returns the acked records."""
    start = chain.status(0)["height"]
    loads = [Load(chain, seq=seq), Load(chain, seq=seq + 50000000)]
    t.wait_for(lambda: chain.status(0)["height"] >= start + blocks, 240,
               "%d more blocks" % blocks)
    acked = {}
    for ld in loads:
        acked.update(ld.stop())
    return acked


def installed_height(logfile):
    m = re.findall(r"ev=state_installed height=(\d+)", open(logfile).read())
    return int(m[-1]) if m else None


def main():
    t.bins()
    root = t.tmpdir("catchup")
    chain = t.Chain(root, n=N)
    chain.start_all(extra=STATE)
    chain.register()
    tproc, taddr = chain.start_follower("t0", extra=STATE)
    # Early readings, repeatable: resent later they must answer DUPLICATE (record id index);
    # the same seq with another ts, CONFLICT ((device, seq) index).
    early_ts = int(time.time() * 1000)
    early = submit(chain, chain.addr(0), seq=500, count=3, ts=early_ts)
    t.check(all(r["outcome"] == "committed" for r in early), "early readings: %s" % early)

    acked = grow(chain, 50, seq=1000)
    register_device(chain, "dev-2")
    reg2 = chain.status(0)["height"]
    acked.update(grow(chain, 60, seq=2000000))
    register_device(chain, "dev-3")
    acked.update(grow(chain, 40, seq=4000000))
    t.wait_for(lambda: same_head(chain, taddr), 120, "t0 at the validators' head")
    t.log("chain at height %d, dev-2 registered by %d, %d records acked" %
          (chain.status(0)["height"], reg2, len(acked)))

    # t0's store loses the (device, seq) entry of an early reading: its state is now wrong.
    oldest = min(acked, key=lambda i: acked[i])
    rec = t.ctl_json("record", oldest, "--node=" + chain.addr(0))
    old_seq = rec["seq"]
    tproc.send_signal(signal.SIGTERM)
    tproc.wait(timeout=20)
    t.check(t.spawn([t.runfile("tests/integration/corrupt_block"), "--data_dir=%s/t0" % root,
                     "--chain_id=itest", "--drop_seq=dev-1:%d" % old_seq]).wait() == 0,
            "dropped t0's index entry")
    tproc, taddr = chain.start_follower("t0", extra=STATE)
    # Past the next multiple of 16, so every node pins (and validators attest) a fresh state.
    acked.update(grow(chain, 20, seq=6000000))
    t.wait_for(lambda: same_head(chain, taddr), 120, "t0 at the head again")
    head = chain.status(0)["height"]

    fproc, faddr = chain.start_follower(
        "f0", extra=STATE + ["--catch_up=checkpoint", "--state_peers=" + taddr])
    flog = root + "/f0.log"
    cp = installed_height(flog)
    t.check(cp is not None and cp >= head - 32 and cp > reg2,
            "f0 installed a recent checkpoint: %s (head %d)" % (cp, head))
    log = open(flog).read()
    t.check(re.search(r"ev=state_refused from=%s" % re.escape(taddr), log),
            "f0 refused t0's tampered state")
    rc, out, err = t.ctl("block", "1", "--node=" + faddr, check_rc=False)
    t.check(rc != 0 and "pruned" in out + err, "block 1 was never replayed on f0: %s %s" % (out, err))
    t.wait_for(lambda: same_head(chain, faddr), 60, "f0 at the validators' head")
    st = chain.status(faddr)
    t.check(st["records"] == chain.status(0)["records"], "f0 counts every record: %s" % st)
    t.check(st["devices"] == 3 and st["gateways"] == 1, "f0 has the registry: %s" % st)
    _, out, _ = t.ctl("devices", "--node=" + faddr)
    t.check("dev-2" in out and "dev-3" in out, "f0 lists devices registered before H: %s" % out)

    # Records after the checkpoint prove on f0; a body below it is absent there.
    new = submit(chain, chain.addr(0), seq=9000000, count=5)
    t.check(all(r["outcome"] == "committed" for r in new), "new records commit: %s" % new)
    t.wait_for(lambda: same_head(chain, faddr), 60, "f0 has the new block")
    t.ctl("prove", new[0]["record_id"], "--node=" + faddr, "--genesis=" + chain.genesis)
    rc, out, err = t.ctl("record", oldest, "--node=" + faddr, check_rc=False)
    t.check(rc != 0 and "pruned" in out + err, "an old body is absent on f0: %s %s" % (out, err))
    t.check(max(r["height"] for r in early) < cp, "the early readings lie below the checkpoint")
    dup = submit(chain, faddr, seq=500, count=3, ts=early_ts)
    t.check([r["outcome"] for r in dup] == ["duplicate"] * 3 and
            [r["height"] for r in dup] == [r["height"] for r in early],
            "old readings resent via f0 answer DUPLICATE where they are: %s" % dup)

    # A light follower joins from a checkpoint too, and prunes on from there.
    lproc, laddr = chain.start_follower(
        "l0", extra=["--mode=light", "--retain_blocks=5", "--catch_up=checkpoint"])
    lcp = installed_height(root + "/l0.log")
    t.check(lcp is not None and lcp >= cp, "l0 installed a checkpoint: %s" % lcp)
    t.wait_for(lambda: same_head(chain, laddr), 60, "l0 at the validators' head")
    t.check(chain.status(laddr)["mode"] == "light", "l0 is light")
    lproc.terminate()

    # A validator restarted empty rejoins from a checkpoint and votes with what it installed.
    chain.kill(3)
    shutil.rmtree("%s/v3" % root)
    chain.start(3, extra=STATE + ["--catch_up=checkpoint"])
    vcp = installed_height(root + "/v3.log")
    t.check(vcp is not None and vcp >= cp, "v3 installed a checkpoint: %s" % vcp)
    t.wait_for(lambda: chain.status(3)["height"] >= chain.status(0)["height"], 60,
               "v3 at the head")
    chain.kill(2)
    dup = submit(chain, chain.addr(3), seq=500, count=3, ts=early_ts)
    t.check([r["outcome"] for r in dup] == ["duplicate"] * 3,
            "v3 answers DUPLICATE for old readings: %s" % dup)
    conflict = submit(chain, chain.addr(3), seq=500, count=1, ts=early_ts + 1)
    t.check(conflict[0]["outcome"] == "conflict",
            "v3 refuses another record with an old (device, seq): %s" % conflict)
    more = submit(chain, chain.addr(3), seq=9100000, count=5)
    t.check(all(r["outcome"] == "committed" for r in more),
            "v0, v1 and the rejoined v3 commit: %s" % more)
    t.ctl("prove", more[0]["record_id"], "--node=" + chain.addr(3), "--genesis=" + chain.genesis)
    t.log("f0 joined at %d, v3 at %d, head %d" % (cp, vcp, chain.status(0)["height"]))
    fproc.terminate()
    tproc.terminate()
    chain.stop_all()
    print("PASS")


if __name__ == "__main__":
    main()
