"""The validator set changes under load, with real processes (docs/OPERATIONS.md "Adding,
removing and replacing validators"): four genesis validators commit a steady load of gateway
batches; v4, v5 and v6 start as followers holding keys and are added (`ledgerctl validator
add`), so after the epoch end all seven commit, each new member signing certificates; v1 is
killed with -9 after the removal of v3 commits and before it takes effect, and restarted
after the others left its epoch: it comes back in the new epoch; v3 becomes a follower and
stays in step; v2's key is replaced (it holds the next key already: --next_key) and the chain
keeps committing. At the end every node stands at one height and head (no fork), every
acknowledged record proves on every node with the genesis file alone, a proof saved before
any change still verifies offline, and so does a proof taken after the changes (through its
validator_changes)."""
import json
import signal
import subprocess

import pltest as t

N = 4


class Extra:
    """A node outside the genesis: its own key (and port), started with --follow."""

    def __init__(self, chain, name):
        self.chain = chain
        self.name = name
        self.key = "%s/%s.key" % (chain.root, name)
        _, out, _ = t.ctl("keygen", "--out=" + self.key)
        self.pubkey = out.strip().split()[-1]
        self.addr = "127.0.0.1:%d" % t.free_port()
        self.proc = None

    def start(self, extra=()):
        logf = open("%s/%s.log" % (self.chain.root, self.name), "a")
        self.proc = t.spawn([t.LEDGER_NODE, "--follow", "--genesis=" + self.chain.genesis,
                             "--node_id=" + self.name, "--key=" + self.key,
                             "--listen=" + self.addr,
                             "--data_dir=%s/%s" % (self.chain.root, self.name)] + list(extra),
                            stdout=logf, stderr=subprocess.STDOUT)
        t.wait_answering(self.proc, lambda: self.chain.status(self.addr), self.name,
                         "%s/%s.log" % (self.chain.root, self.name))


def change(chain, *args):
    """Runs `ledgerctl validator ARGS` through the genesis validators; its JSON answer."""
    _, out, _ = t.ctl("validator", *args, "--admin_key=%s/admin.key" % chain.root,
                      "--genesis=" + chain.genesis, chain.nodes_flag(), "--json", timeout=120)
    res = json.loads(out)
    t.log("validator %s: committed at %d, in force above %d" %
          (" ".join(args), res["height"], res["in_force_above"]))
    return res


def statuses(addrs):
    return {a: (status_of(a)) for a in addrs}


def status_of(addr):
    rc, out, _ = t.ctl("status", "--json", "--node=" + addr, "--timeout_ms=5000", check_rc=False)
    return json.loads(out) if rc == 0 else None


def in_epoch(addrs, epoch, ids):
    """True when every node in `addrs` is in `epoch` with validator set `ids`."""
    for a in addrs:
        s = status_of(a)
        if s is None or s["epoch"] != epoch or s["validator_ids"] != ids:
            return False
    return True


def same_head(addrs):
    sts = [status_of(a) for a in addrs]
    if any(s is None for s in sts):
        return False
    return len({(s["height"], s["head_hash"]) for s in sts}) == 1


def signers_above(addr, start, count):
    """Validator indexes that signed the certificates of blocks start .. start+count-1."""
    seen = set()
    for h in range(start, start + count):
        b = t.ctl_json("block", str(h), "--node=" + addr)
        seen.update(b["certificate_signers"])
    return seen


def main():
    t.bins()
    root = t.tmpdir("validator_set")
    chain = t.Chain(root, n=N)
    extras = [Extra(chain, "v%d" % i) for i in (4, 5, 6)]
    # v2 holds its replacement key from the start: the rekey needs no restart.
    _, out, _ = t.ctl("keygen", "--out=%s/v2-next.key" % root)
    v2_next_pub = out.strip().split()[-1]
    for i in range(N):
        chain.start(i, ["--next_key=%s/v2-next.key" % root] if i == 2 else [])
    chain.register()
    for e in extras:
        e.start()
    addrs = [chain.addr(i) for i in range(N)] + [e.addr for e in extras]
    st = status_of(extras[0].addr)
    t.check(st["role"] == "follower" and st["epoch"] == 0 and
            st["validator_ids"] == ["v0", "v1", "v2", "v3"], "a keyed follower follows: %s" % st)

    load = t.SubmitLoop(chain, seq=1000, count=5, timeout_ms=20000)
    t.wait_for(lambda: load.count() >= 20, 60, "20 records acknowledged under load")
    # A proof from before any change, saved for later.
    old_id = sorted(load.acked.items(), key=lambda kv: kv[1])[0][0]
    _, old_proof, _ = t.ctl("prove", old_id, "--json", "--genesis=" + chain.genesis,
                            chain.nodes_flag())
    with open(root + "/old_proof.json", "w") as f:
        f.write(old_proof)
    t.check("validator_changes" not in json.loads(old_proof), "no change yet: a plain 6.6 proof")

    # 4 -> 7: three additions; the last one's end is when all seven order.
    ends = []
    for e in extras:
        res = change(chain, "add", "--id=" + e.name, "--pubkey=" + e.pubkey, "--address=" + e.addr)
        t.check(res["in_force_above"] == 16 * (res["height"] // 16 + 4), "E(h): %s" % res)
        ends.append(res["in_force_above"])
    seven = ["v0", "v1", "v2", "v3", "v4", "v5", "v6"]
    e7 = ends[-1]
    st = status_of(chain.addr(0))
    if st["height"] < ends[0]:
        # Additions committed in one 16-block window share their end: the nearest pending
        # set holds every one of them.
        nearest = seven[:4 + ends.count(ends[0])]
        t.check(st["pending_change_end"] == ends[0] and
                st["pending_validator_ids"] == nearest and st["epoch"] == 0,
                "status shows the nearest pending change (%s in force above %d): %s" %
                (nearest, ends[0], st))
    t.wait_for(lambda: in_epoch(addrs, e7, seven), 90, "all seven in epoch %d" % e7)
    for e in extras:  # a status call may time out on a loaded machine: asked until it answers
        t.wait_for(lambda: status_of(e.addr)["role"] == "validator", 30, "%s promoted" % e.name)
    before = load.count()
    t.wait_for(lambda: status_of(chain.addr(0))["height"] >= e7 + 12 and
               load.count() > before, 60, "the seven commit under load")
    signers = signers_above(chain.addr(0), e7 + 1, 10)
    t.check(signers & {4, 5, 6}, "new members sign certificates after %d: %s" % (e7, signers))
    t.log("epoch %d: 7 validators, signers above it %s" % (e7, sorted(signers)))

    # 7 -> 6: v3 removed; v1 killed -9 after the change commits, restarted after its end.
    res = change(chain, "remove", "--id=v3")
    e6 = res["in_force_above"]
    chain.kill(1)
    six = [v for v in seven if v != "v3"]
    live = [a for a in addrs if a != chain.addr(1)]
    t.wait_for(lambda: in_epoch(live, e6, six), 90, "the others in epoch %d" % e6)
    t.wait_for(lambda: status_of(chain.addr(0))["height"] >= e6 + 4, 60, "commits past %d" % e6)
    chain.start(1)
    t.wait_for(lambda: in_epoch([chain.addr(1)], e6, six), 60, "v1 back in epoch %d" % e6)
    t.check(status_of(chain.addr(1))["role"] == "validator", "v1 validates again")
    t.check(status_of(chain.addr(3))["role"] == "follower", "v3 follows now")
    before = load.count()
    t.wait_for(lambda: load.count() > before + 10, 60, "the six commit under load")

    # Rekey v2 to the key it already holds as --next_key.
    res = change(chain, "rekey", "--id=v2", "--pubkey=" + v2_next_pub)
    er = res["in_force_above"]
    t.wait_for(lambda: in_epoch(addrs, er, six), 90, "all in epoch %d" % er)
    t.check(status_of(chain.addr(2))["role"] == "validator", "v2 validates with its new key")
    t.wait_for(lambda: "ev=epoch_started epoch=%d " % er in open(root + "/v2.log").read(), 10,
               "v2's switch logged")
    line = [l for l in open(root + "/v2.log") if "ev=epoch_started epoch=%d " % er in l][0]
    t.check("key=next_key" in line, "v2 signs with its --next_key now: %s" % line)
    # A member a few blocks behind when the others finish the epoch fetches the first blocks
    # of the next one (state transfer) and signs none of them: the certificates read are of
    # blocks committed after v2 has caught up.
    t.wait_for(lambda: status_of(chain.addr(2))["height"] >= er + 8, 60, "v2 past %d" % er)
    start = max(er, status_of(chain.addr(0))["height"]) + 1
    before = load.count()
    t.wait_for(lambda: load.count() > before + 10 and
               status_of(chain.addr(0))["height"] >= start + 8, 60, "commits after the rekey")
    signers = signers_above(chain.addr(0), start, 8)
    t.check(2 in signers, "v2 (new key) signs certificates %d-%d once caught up: %s" %
            (start, start + 7, signers))

    acked = load.stop()
    t.log("%d records acknowledged, %d failed submit calls (retried)" % (len(acked), load.failures))
    t.wait_for(lambda: same_head(addrs), 60, "every node at one head")
    st = status_of(chain.addr(0))
    t.log("all %d nodes at height %d head %s" % (len(addrs), st["height"], st["head_hash"][:8]))

    ids_file = root + "/acked.txt"
    with open(ids_file, "w") as f:
        f.write("\n".join(sorted(acked)) + "\n")
    for a in addrs:
        rc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file, "--genesis=" + chain.genesis,
                             "--node=" + a, check_rc=False, timeout=120)
        t.check(rc == 0 and out.strip() == "%d verified, 0 failed" % len(acked),
                "%s proves every acknowledged record: rc=%d %s %s" % (a, rc, out, err[-1500:]))
        rc, out, err = t.ctl("verify-chain", "--node=" + a, "--genesis=" + chain.genesis,
                             check_rc=False, timeout=120)
        t.check(rc == 0, "verify-chain on %s: %s %s" % (a, out, err[-1500:]))

    rc, out, err = t.ctl("verify-proof", "--proof=" + root + "/old_proof.json",
                         "--genesis=" + chain.genesis, check_rc=False)
    t.check(rc == 0, "the old proof verifies with the genesis file alone: %s %s" % (out, err))
    new_id = max(acked.items(), key=lambda kv: kv[1])[0]
    _, new_proof, _ = t.ctl("prove", new_id, "--json", "--genesis=" + chain.genesis,
                            "--node=" + extras[0].addr)
    with open(root + "/new_proof.json", "w") as f:
        f.write(new_proof)
    t.check(len(json.loads(new_proof).get("validator_changes", [])) >= 5,
            "a new proof carries the changes")
    rc, out, err = t.ctl("verify-proof", "--proof=" + root + "/new_proof.json",
                         "--genesis=" + chain.genesis, check_rc=False)
    t.check(rc == 0, "the new proof verifies with the genesis file alone: %s %s" % (out, err))

    logs = {n: open("%s/%s.log" % (root, n)).read() for n in ("v1", "v3", "v4")}
    t.check("ev=joined_validator_set" in logs["v4"], "v4 logs joined_validator_set")
    t.check("ev=left_validator_set" in logs["v3"], "v3 logs left_validator_set")
    t.log("PASS")
    for i in list(chain.procs):
        chain.kill(i, signal.SIGTERM)
    for e in extras:
        e.proc.send_signal(signal.SIGTERM)
        e.proc.wait(timeout=20)


if __name__ == "__main__":
    main()
