"""Four real ledger_node validators (N = 3f+1, f = 1) under a steady load of gateway batches:
kill -9 a backup, then the primary, then two of four, and show that commits go on while a
quorum lives, stop without one (no commit, no fork), resume when it is back, and that a
restarted node catches up to the same chain. At the end every acknowledged record is
provable on every node and every store passes verify-chain."""
import json
import os
import signal
import threading
import time

import pltest as t

N = 4
VIEW_CHANGE_MS = 1000
DEVICES = ("dev-1", "dev-2", "dev-3")


Load = t.SubmitLoad


def statuses(chain, idx):
    return {i: chain.status(i) for i in idx}


def height(chain, i):
    st = chain.status(i)
    return st["height"] if st else -1


def converge(chain, idx, timeout=30):
    """Polls until every node in `idx` reports the same height and head hash."""
    got = {}

    def same():
        got.update(statuses(chain, idx))
        vals = {(s["height"], s["head_hash"]) for s in got.values() if s}
        return len(vals) == 1 and all(got[i] for i in idx)
    start = time.time()
    t.wait_for(same, timeout, "nodes %s to agree; last seen %s" % (
        idx, {i: (s["height"], s["head_hash"][:12]) if s else None for i, s in got.items()}))
    s = got[idx[0]]
    t.log("nodes %s agree: height %d head %s (%.2fs)" % (idx, s["height"], s["head_hash"][:16],
                                                         time.time() - start))
    return s


def direct_submit(chain, i, seq, timeout_ms):
    """One batch given to node i alone; returns (rc, records, seconds)."""
    t0 = time.time()
    rc, out, err = t.ctl("submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % chain.root,
                         "--device=dev-1", "--device_key=%s/dev-1.key" % chain.root,
                         "--genesis=" + chain.genesis, "--node=" + chain.addr(i), "--count=5",
                         "--seq=%d" % seq, "--json", "--timeout_ms=%d" % timeout_ms,
                         check_rc=False, timeout=timeout_ms / 1000 + 30)
    return rc, (json.loads(out) if rc == 0 else err), time.time() - t0


def restart_and_catch_up(chain, load, i, others, extra):
    target = max(height(chain, j) for j in others)
    t0 = time.time()
    chain.start(i, extra)
    # A client of the restarted node is answered while it catches up, whatever view it
    # believed in before it crashed (no failover to another node here).
    rc, res, took = direct_submit(chain, i, 8000000000 + 1000 * i + int(t0) % 1000, 10000)
    t.check(rc == 0 and all(r["outcome"] == "committed" for r in res),
            "a batch given to the restarted v%d alone is committed: rc=%d %s" % (i, rc, res))
    with load.lock:
        for r in res:
            load.acked[r["record_id"]] = r["height"]
    t.wait_for(lambda: height(chain, i) >= target, 30,
               "v%d to catch up to height %d" % (i, target))
    dt = time.time() - t0
    t.log("v%d restarted and reached height %d (the others' head at restart) in %.2fs; a batch "
          "given to it alone was committed in %.2fs" % (i, target, dt, took))
    one_view(chain, i)
    return dt


def one_view(chain, back, timeout=30):
    """Polls (under load) until all four report one view, none changing views or alone in
    its view, and the restarted node `back` hears at least 2f others in its view: it votes
    with them, not just follows by state transfer (issue 11 item 7)."""
    got = {}

    def same():
        got.update(statuses(chain, range(N)))
        ss = list(got.values())
        return (all(ss) and len({s["view"] for s in ss}) == 1 and
                not any(s.get("alone_in_view") or s.get("view_changing") for s in ss) and
                got[back].get("peers_in_view", 0) >= 2)
    t0 = time.time()
    t.wait_for(same, timeout, "all four in one view with v%d voting there; last seen %s" % (
        back, {i: (s["view"], s.get("peers_in_view"), s.get("alone_in_view"))
               if s else None for i, s in got.items()}))
    t.log("v%d back: all four in view %d, v%d hears %d others in it, none alone (%.2fs)" % (
        back, got[back]["view"], back, got[back]["peers_in_view"], time.time() - t0))


def check_quiet(chain, secs):
    """With no load and all four up, nothing changes: no spurious view change (a node with
    stale requests would time out and leave the others' view)."""
    first = statuses(chain, range(N))
    t0 = time.time()
    while time.time() - t0 < secs:
        now = statuses(chain, range(N))
        t.check(all(now[i] and now[i]["view"] == first[0]["view"] and
                    now[i]["head_hash"] == first[0]["head_hash"] for i in range(N)),
                "quiet cluster stays in view %d at height %d: %s" % (
                    first[0]["view"], first[0]["height"],
                    {i: (s["view"], s["height"]) if s else None for i, s in now.items()}))
        time.sleep(0.2)
    t.log("quiet for %.1fs: all four in view %d at height %d" %
          (secs, first[0]["view"], first[0]["height"]))


def scenario_backup(chain, load, extra):
    st = chain.status(0)
    backup = 3 if st["primary"] != "v3" else 2
    alive = [i for i in range(N) if i != backup]
    h_kill = max(height(chain, i) for i in alive)
    acked_kill = load.count()
    chain.kill(backup)
    t0 = time.time()
    t.log("a. killed backup v%d at height %d" % (backup, h_kill))
    t.wait_for(lambda: all(height(chain, i) >= h_kill + 5 for i in alive), 30,
               "commits to go on without v%d" % backup)
    t.wait_for(lambda: load.count() >= acked_kill + 100, 30, "100 more acknowledged records")
    t.log("a. 3 of 4 commit on: +5 blocks on every survivor, +100 acks in %.2fs"
          % (time.time() - t0))
    catch = restart_and_catch_up(chain, load, backup, alive, extra)
    load.pause()
    converge(chain, list(range(N)))
    check_quiet(chain, 3.0 * VIEW_CHANGE_MS / 1000)
    load.resume()
    return catch


def scenario_primary(chain, load, extra):
    st = chain.status(0)
    primary = chain.ids.index(st["primary"])
    old_view = st["view"]
    alive = [i for i in range(N) if i != primary]
    h_kill = max(height(chain, i) for i in alive)
    chain.kill(primary)
    t0 = time.time()
    t.log("b. killed primary v%d (view %d) at height %d" % (primary, old_view, h_kill))

    def new_view():
        ss = statuses(chain, alive)
        return all(s and s["view"] > old_view for s in ss.values())
    t.wait_for(new_view, 30, "a view change on the survivors")
    t_vc = time.time() - t0
    t.wait_for(lambda: all(height(chain, i) >= h_kill + 3 for i in alive), 30,
               "commits to resume after the view change")
    t_resume = time.time() - t0
    ss = statuses(chain, alive)
    views = sorted({s["view"] for s in ss.values()})
    t.check(all(s["primary"] != chain.ids[primary] for s in ss.values()),
            "the dead node is no longer primary: %s" % ss)
    t.log("b. view %d -> %s (primary %s) after %.2fs; +3 blocks on every survivor after %.2fs"
          % (old_view, views, ss[alive[0]]["primary"], t_vc, t_resume))
    for i in alive:  # the view change is in each survivor's log, as events
        text = open("%s/%s.log" % (chain.root, chain.ids[i])).read()
        for ev in ("ev=view_change_started view=%d" % views[-1],
                   "ev=view_entered view=%d" % views[-1]):
            t.check(ev in text, "v%d logged %s" % (i, ev))
        t.check("ev=view_alone " not in text, "v%d never alone in its view" % i)
        t.log("v%d: %s" % (i, [l[l.index("ev="):] for l in text.splitlines()
                                if "ev=view_" in l][-4:]))
    catch = restart_and_catch_up(chain, load, primary, alive, extra)
    load.pause()
    converge(chain, list(range(N)))
    check_quiet(chain, 3.0 * VIEW_CHANGE_MS / 1000)
    load.resume()
    return t_vc, t_resume, catch


def scenario_no_quorum(chain, load, extra):
    load.pause()
    st = converge(chain, list(range(N)))
    primary = chain.ids.index(st["primary"])
    down = [primary, (primary + 1) % N]
    alive = [i for i in range(N) if i not in down]
    for i in down:
        chain.kill(i)
    t.log("c. killed v%d (primary) and v%d; v%d and v%d are left" % (down[0], down[1], *alive))
    before = statuses(chain, alive)
    # A submission to the survivors while no quorum exists: it must not be answered.
    seq, ts = 7000000000, 1700000000000
    sub_args = ["submit", "--gateway=gw-1", "--gateway_key=%s/gw-1.key" % chain.root,
                "--device=dev-1", "--device_key=%s/dev-1.key" % chain.root,
                "--genesis=" + chain.genesis, "--count=5", "--seq=%d" % seq, "--ts=%d" % ts,
                "--json"]
    pending = {}

    def submit_pending():
        pending["res"] = t.ctl(*(sub_args + ["--node=" + chain.addr(alive[0]),
                                             "--timeout_ms=60000"]),
                               check_rc=False, timeout=90)
        pending["at"] = time.time()
    th = threading.Thread(target=submit_pending, daemon=True)
    th.start()
    t0 = time.time()
    while time.time() - t0 < 5:
        now = statuses(chain, alive)
        for i in alive:
            t.check(now[i] is not None, "survivor v%d answers" % i)
            t.check((now[i]["height"], now[i]["head_hash"]) ==
                    (before[i]["height"], before[i]["head_hash"]),
                    "no commit without a quorum: v%d went %d -> %d" %
                    (i, before[i]["height"], now[i]["height"]))
        t.check("res" not in pending, "a submission was answered without a quorum: %s" %
                (pending.get("res"),))
        time.sleep(0.2)
    t.log("c. 2 of 4: heights stayed %s for 5s, the submission is unanswered" %
          {i: before[i]["height"] for i in alive})
    back = down[1]
    t1 = time.time()
    chain.start(back, extra)
    th.join(timeout=60)
    t.check("res" in pending, "pending submission answered after a quorum is back")
    rc, out, err = pending["res"]
    t.check(rc == 0, "pending submission committed after v%d came back: rc=%d %s" %
            (back, rc, err))
    res = json.loads(out)
    t.check(all(r["outcome"] == "committed" for r in res), "pending records committed: %s" % res)
    t_commit = pending["at"] - t1
    views = {i: s["view"] for i, s in statuses(chain, alive + [back]).items()}
    t.log("c. v%d back: the pending submission committed at height %d after %.2fs (views %s)" %
          (back, res[0]["height"], t_commit, views))
    with load.lock:
        for r in res:
            load.acked[r["record_id"]] = r["height"]
    three = sorted(alive + [back])
    load.resume()
    t.wait_for(lambda: all(height(chain, i) >= res[0]["height"] + 3 for i in three), 30,
               "new commits with 3 of 4")
    catch = restart_and_catch_up(chain, load, down[0], three, extra)
    load.pause()
    converge(chain, list(range(N)))
    load.resume()
    return t_commit, catch


def main():
    t.bins()
    root = t.tmpdir("pbft_cluster")
    chain = t.Chain(root, n=N)
    extra = ["--view_change_timeout_ms=%d" % VIEW_CHANGE_MS, "--log_level=debug"]
    load = None
    try:
        for i in range(N):
            chain.start(i, extra)
        chain.register(devices=DEVICES)
        t.log("4 validators up, gateway and %d devices registered" % len(DEVICES))
        load = Load(chain)
        t.wait_for(lambda: load.count() >= 200, 60, "200 acknowledged records")
        converge_under_load = time.time()

        catch_a = scenario_backup(chain, load, extra)
        t_vc, t_resume, catch_b = scenario_primary(chain, load, extra)
        t_commit_c, catch_c = scenario_no_quorum(chain, load, extra)

        n0 = load.count()
        t.wait_for(lambda: load.count() >= n0 + 100, 30, "100 more acks with all four back")
        load.stop()
        final = converge(chain, list(range(N)))
        with load.lock:
            acked = dict(load.acked)
            t.log("load: %d acknowledged records, outcomes %s, %d failed submissions over %.0fs"
                  % (len(acked), load.outcomes, load.failures,
                     time.time() - converge_under_load))
            t.check(load.outcomes.get("conflict", 0) == 0, "no conflicts: %s" % load.outcomes)
        t.check(max(acked.values()) <= final["height"], "acked heights are on the chain")

        ids_file = os.path.join(root, "acked_ids.txt")
        with open(ids_file, "w") as f:
            f.write("\n".join(sorted(acked)) + "\n")
        for i in range(N):
            t0 = time.time()
            rc, out, err = t.ctl("prove-all", "--ids_file=" + ids_file,
                                 "--genesis=" + chain.genesis, "--node=" + chain.addr(i),
                                 check_rc=False, timeout=120)
            t.check(rc == 0 and out.strip() == "%d verified, 0 failed" % len(acked),
                    "v%d proves every acknowledged record: rc=%d %s %s" %
                    (i, rc, out, err[-2000:]))
            t.log("v%d: %s (%.1fs)" % (i, out.strip(), time.time() - t0))
        # The height each record was acknowledged at is where it is (a sample).
        for rid in sorted(acked)[:: max(1, len(acked) // 20)]:
            rec = t.ctl_json("record", rid, "--node=" + chain.addr(3))
            t.check(rec["height"] == acked[rid], "record %s at height %d, acked at %d" %
                    (rid[:12], rec["height"], acked[rid]))

        chain.stop_all()
        for i in range(N):
            rc, out, err = t.ctl("verify-chain", "--data_dir=%s/v%d" % (root, i),
                                 "--genesis=" + chain.genesis, check_rc=False, timeout=120)
            t.check(rc == 0 and "chain OK" in out, "verify-chain v%d: %s %s" % (i, out, err))
            t.log("v%d: %s" % (i, out.strip()))
        t.log("summary: catch-up a %.2fs; view change %.2fs, commits resumed %.2fs, catch-up "
              "b %.2fs; no quorum -> commit %.2fs after one came back, catch-up c %.2fs" %
              (catch_a, t_vc, t_resume, catch_b, t_commit_c, catch_c))
        print("PASS")
    except SystemExit:
        for v in chain.ids:
            path = "%s/%s.log" % (root, v)
            if os.path.exists(path):
                lines = open(path).read().splitlines()
                interesting = [ln for ln in lines if "block_committed" not in ln]
                print("---- %s (last 40 lines other than block_committed) ----" % v)
                print("\n".join(interesting[-40:]))
        raise
    finally:
        if load:
            load.stop_ev.set()
        for i in list(chain.procs):
            chain.procs[i].send_signal(signal.SIGKILL)
            chain.procs[i].wait(timeout=20)


if __name__ == "__main__":
    main()
