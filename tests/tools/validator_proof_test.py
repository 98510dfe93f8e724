#!/usr/bin/env python3
"""Proofs across validator-set changes, end to end (docs/VALIDATOR_SET.md).

A chain whose set went 4 -> 7 (committed at 2, in force above 64) -> 6 (v0 removed, v1
rekeyed; committed at 70, in force above 128) is written into a real store by
validator_chain_fixture (library level, test keys). A real `ledger_node --follow` serves it;
the real ledgerctl fetches `prove --json` of a record at 130, which carries both changes under
"validator_changes"; the independent Python verifier (validator_proof_verifier.py: hashlib
and integers only) and `ledgerctl verify-proof` accept it with the genesis file alone, and
both refuse it with a change dropped or a change record altered. A record before the first
change is proven exactly as before (no key). `ledgerctl validator list` and
`verify-chain` (over gRPC and on the stopped store) follow the schedule."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def runfile(rel):
    base = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR")
    ws = os.environ.get("TEST_WORKSPACE", "provledger")
    if base and os.path.exists(os.path.join(base, ws, rel)):
        return os.path.join(base, ws, rel)
    return os.path.join(HERE, "..", "..", "bazel-bin", rel)


sys.path.insert(0, os.path.dirname(runfile("tests/integration/pltest.py")))
sys.path.insert(0, os.path.dirname(runfile("tests/tools/validator_proof_verifier.py")))
import pltest  # noqa: E402
from pltest import check, ctl, log  # noqa: E402
import validator_proof_verifier as pv  # noqa: E402


def rejected(genesis, proof):
    try:
        pv.verify(genesis, proof)
    except (pv.VerifyError, KeyError, ValueError) as e:
        return str(e) or type(e).__name__
    return None


def verify_proof_rc(gpath, proof, root, name):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        json.dump(proof, f)
    rc, _, err = ctl("verify-proof", "--genesis=" + gpath, "--proof=" + path, check_rc=False)
    return rc, err


def main():
    pltest.bins()
    root = pltest.tmpdir("validator_proof")
    fx = subprocess.run([runfile("tests/tools/validator_chain_fixture"), root],
                        capture_output=True, text=True, check=True)
    info = json.loads(fx.stdout)
    gpath = os.path.join(root, "genesis.json")
    with open(gpath) as f:
        genesis = json.load(f)

    # A stopped store first: verify-chain checks each block against the set at its height.
    rc, out, err = ctl("verify-chain", "--data_dir=%s/node" % root, "--genesis=" + gpath,
                       check_rc=False)
    check(rc == 0, "verify-chain on the fixture store: rc=%d %s%s" % (rc, out, err))

    port = pltest.free_port()
    addr = "127.0.0.1:%d" % port
    logf = open(os.path.join(root, "node.log"), "a")
    pltest.spawn([pltest.LEDGER_NODE, "--follow", "--genesis=" + gpath, "--node_id=f0",
                  "--listen=" + addr, "--data_dir=%s/node" % root],
                 stdout=logf, stderr=subprocess.STDOUT)
    pltest.wait_for(lambda: ctl("status", "--node=" + addr, check_rc=False)[0] == 0, 20,
                    "the follower to answer")

    st = json.loads(ctl("status", "--json", "--node=" + addr)[1])
    log("status", st)
    lst = json.loads(ctl("validator", "list", "--json", "--genesis=" + gpath,
                         "--node=" + addr)[1])
    log("validator list", json.dumps(lst)[:300])
    check(lst["in_force"]["n"] == 6, "set in force has %d validators" % lst["in_force"]["n"])
    check(lst["in_force"]["quorum"] == 4, "quorum of 6 is 4")
    check([v["id"] for v in lst["in_force"]["validators"]] == ["v1", "v2", "v3", "v4", "v5", "v6"],
          "members in force: %s" % lst["in_force"]["validators"])
    check("pending" not in lst, "no change pending at %d" % info["height"])
    check(lst["changes"] == 2, "two changes recorded")

    rc, out, err = ctl("verify-chain", "--node=" + addr, "--genesis=" + gpath, check_rc=False)
    check(rc == 0, "verify-chain over gRPC: rc=%d %s%s" % (rc, out, err))

    _, out, _ = ctl("prove", info["target"], "--json", "--genesis=" + gpath, "--node=" + addr)
    proof = json.loads(out)
    with open(os.path.join(root, "proof.json"), "w") as f:
        json.dump(proof, f)
    changes = proof.get("validator_changes")
    check(changes is not None and [c["height"] for c in changes] == info["changes"],
          "proof carries the changes at %s: %s" % (info["changes"],
                                                   [c["height"] for c in changes or []]))
    got = pv.verify(genesis, proof)
    log("python verifier:", got)
    check(got == {"changes": 2, "set_size": 6}, "python verifier result %s" % got)
    rc, err = verify_proof_rc(gpath, proof, root, "ok.json")
    check(rc == 0, "ledgerctl verify-proof of the real proof: rc=%d %s" % (rc, err))

    # An old record: today's proof, without the key, verifies as before.
    _, out, _ = ctl("prove", info["early"], "--json", "--genesis=" + gpath, "--node=" + addr)
    early = json.loads(out)
    check("validator_changes" not in early, "a proof below every change has no key")
    check(pv.verify(genesis, early)["changes"] == 0, "python verifies the early proof")

    # Tampered: each refused by both verifiers.
    dropped_first = dict(proof, validator_changes=changes[1:])
    dropped_last = dict(proof, validator_changes=changes[:1])
    no_key = {k: v for k, v in proof.items() if k != "validator_changes"}
    rec = changes[1]["record"]
    flipped = rec[:-10] + ("1" if rec[-10] == "0" else "0") + rec[-9:]
    altered = dict(proof, validator_changes=[changes[0], dict(changes[1], record=flipped)])
    for name, bad in [("first change dropped", dropped_first), ("last change dropped",
                      dropped_last), ("changes removed", no_key), ("change record altered",
                      altered)]:
        why = rejected(genesis, bad)
        check(why is not None, "python verifier accepted a proof with the %s" % name)
        rc, err = verify_proof_rc(gpath, bad, root, name.replace(" ", "_") + ".json")
        check(rc == 3, "ledgerctl verify-proof with the %s: rc=%d" % (name, rc))
        log("%s: python: %s; ledgerctl: %s" % (name, why, err.strip()))
    log("PASS")


if __name__ == "__main__":
    main()
