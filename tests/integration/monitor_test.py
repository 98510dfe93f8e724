"""ledgerctl status --all and ledgerctl watch against four real validators and a follower:
every node in the table with its own height and role (the validators found from the set in
force when --node names one node only), a killed validator shown unreachable with a non-zero
exit, a silent address unreachable after the short deadline, a node of another chain given
as a peer shown as a FORK (exit 3); watch under load
prints consecutive heights and rate lines, and stops on --count, --seconds and SIGINT."""
import json
import re
import signal
import socket
import subprocess

import pltest as t

N = 4


def status_all(*args):
    rc, out, err = t.ctl("status", "--all", *args, check_rc=False, timeout=60)
    return rc, out, err


def by_id(doc):
    return {n["id"]: n for n in doc["nodes"]}


def same_head(chain, addrs):
    sts = [chain.status(a) for a in addrs]
    return all(s is not None for s in sts) and len({(s["height"], s["head_hash"]) for s in sts}) == 1


def block_heights(out):
    return [int(m.group(1)) for m in re.finditer(r"^height (\d+)  records \d+  proposer v\d+  "
                                                  r"view \d+  age ", out, re.M)]


def main():
    t.bins()
    root = t.tmpdir("monitor")
    chain = t.Chain(root, n=N)
    chain.start_all()
    chain.register()
    _, faddr = chain.start_follower("f0")
    addrs = [chain.addr(i) for i in range(N)] + [faddr]
    t.wait_for(lambda: same_head(chain, addrs), 60, "the follower at the validators' head")

    # --node names v0 and the follower only: v1..v3 come from the set in force.
    rc, out, err = status_all("--node=%s,%s" % (chain.addr(0), faddr), "--json")
    t.check(rc == 0, "status --all on a healthy cluster exits 0: rc=%d %s %s" % (rc, out, err))
    doc = json.loads(out)
    nodes = by_id(doc)
    t.check(sorted(nodes) == ["f0", "v0", "v1", "v2", "v3"], "every node listed: %s" % nodes)
    for i in range(N):
        st = chain.status(i)
        n = nodes["v%d" % i]
        t.check(n["up"] and n["address"] == chain.addr(i), "v%d up at its address: %s" % (i, n))
        t.check(n["height"] == st["height"] and n["role"] == "validator" and n["mode"] == "full",
                "v%d row matches its own status: %s vs %s" % (i, n, st))
        t.check(n["lag"] == 0 and "last_commit_age_ms" in n, "v%d lag and age: %s" % (i, n))
    t.check(nodes["f0"]["role"] == "follower", "the follower says follower: %s" % nodes["f0"])
    t.check(not doc["fork"] and doc["unreachable"] == 0, "no fork, none unreachable: %s" % doc)
    t.check(doc["common_height"] == doc["max_height"] == chain.status(0)["height"],
            "common height is the head: %s" % doc)

    rc, out, _ = status_all(chain.nodes_flag())
    t.log("status --all:\n" + out)
    t.check(rc == 0 and out.startswith("NODE") and "same block" in out and "FORK" not in out,
            "the text table: %s" % out)
    t.check(all(re.search(r"^v%d\s+%s\s+up\s" % (i, re.escape(chain.addr(i))), out, re.M)
                for i in range(N)), "a row per validator: %s" % out)

    # watch under load: consecutive heights, a line per block, a rate line.
    load = t.SubmitLoop(chain, seq=1000)
    t.wait_for(lambda: load.count() >= 20, 180, "the load to commit")
    rc, out, err = t.ctl("watch", "--count=8", "--node=" + chain.addr(1), timeout=300)
    t.log("watch --count=8:\n" + out)
    hs = block_heights(out)
    t.check(len(hs) == 8 and hs == list(range(hs[0], hs[0] + 8)),
            "8 consecutive heights: %s\n%s" % (hs, out))
    t.check(out.startswith("watching v1 (validator): height"), "the first line: %s" % out)
    m = re.search(r"^rate [\d.]+ blocks/s, [\d.]+ records/s over the last [\d.]+ s "
                  r"\(height (\d+)\)$", out, re.M)
    t.check(m and int(m.group(1)) >= hs[-1], "a final rate line: %s" % out)

    rc, out, err = t.ctl("watch", "--seconds=12", "--json", "--node=" + faddr, timeout=300)
    lines = [json.loads(l) for l in out.splitlines()]
    blocks = [l for l in lines if l["type"] == "block"]
    rates = [l for l in lines if l["type"] == "rate"]
    t.log("watch --seconds=12 on the follower: %d blocks, rates %s" % (len(blocks), rates))
    t.check(lines[0]["type"] == "start" and lines[0]["node"] == "f0", "start line: %s" % lines[0])
    t.check(len(blocks) >= 2 and all(b["height"] == blocks[0]["height"] + k
                                     for k, b in enumerate(blocks)), "consecutive: %s" % blocks)
    t.check(len(rates) >= 2, "a rate line every 5 s and one at the end: %s" % rates)
    t.check(rates[-1]["blocks"] > 0 and rates[-1]["records"] > 0 and rates[-1]["window_ms"] > 0,
            "the rate counts moved under load: %s" % rates)

    # SIGINT stops it cleanly, with a last rate line.
    p = subprocess.Popen(t.with_transport([t.LEDGERCTL, "watch", "--node=" + chain.addr(0)]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stdout.readline()
    t.check(first.startswith("watching v0"), "watch started: %r" % first)
    seen = [p.stdout.readline() for _ in range(2)]  # two blocks printed: it is polling
    t.check(len(block_heights("".join(seen))) == 2, "watch prints blocks: %s" % seen)
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=30)
    t.check(p.returncode == 0, "watch exits 0 on SIGINT: rc=%d %s" % (p.returncode, err))
    t.check(re.search(r"^rate .* blocks/s", rest, re.M), "a last rate line: %s" % rest)
    load.stop()

    # A killed validator: unreachable, exit 1; the others still listed and compared.
    chain.kill(3)
    rc, out, err = status_all("--node=" + chain.addr(0))
    t.log("status --all with v3 killed:\n" + out)
    t.check(rc == 1, "exit 1 with a node unreachable: rc=%d %s %s" % (rc, out, err))
    t.check(re.search(r"^v3\s+%s\s+unreachable" % re.escape(chain.addr(3)), out, re.M) and
            "unreachable: v3 at %s: UNAVAILABLE" % chain.addr(3) in out,
            "v3 unreachable with its error: %s" % out)
    rc, out, _ = status_all("--node=" + chain.addr(0), "--json")
    doc = json.loads(out)
    t.check(rc == 1 and doc["unreachable"] == 1 and not by_id(doc)["v3"]["up"] and
            by_id(doc)["v3"]["error"], "json: %s" % doc)
    t.check(all(by_id(doc)["v%d" % i]["up"] for i in range(3)), "v0..v2 up: %s" % doc)

    # A silent address (accepts TCP, never answers, as a frozen host): unreachable after the
    # short deadline, not the 30 s of a submission.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    hole_addr = "127.0.0.1:%d" % hole.getsockname()[1]
    rc, out, err = status_all("--node=%s,%s" % (chain.addr(0), hole_addr), "--json")
    doc = json.loads(out)
    silent = [n for n in doc["nodes"] if n["address"] == hole_addr]
    t.check(rc == 1 and len(silent) == 1 and not silent[0]["up"] and silent[0]["id"] == "?" and
            re.match(r"(DEADLINE_EXCEEDED|UNAVAILABLE): ", silent[0]["error"]),
            "a silent node: rc=%d %s" % (rc, silent))
    hole.close()

    # A node of another chain given beside v0: different blocks at the common height.
    other_root = t.tmpdir("monitor_other")
    other = t.Chain(other_root, n=1, chain_id="other")
    other.start(0)
    other.register()
    rc, out, err = status_all("--node=%s,%s" % (chain.addr(0), other.addr(0)))
    t.log("status --all with a node of another chain:\n" + out)
    t.check(rc == 3 and "FORK: the nodes hold different blocks at height" in out,
            "a fork is reported loudly with exit 3: rc=%d %s %s" % (rc, out, err))

    other.stop_all()
    chain.stop_all()
    print("PASS")


if __name__ == "__main__":
    main()
