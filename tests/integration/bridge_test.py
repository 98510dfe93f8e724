"""The MQTT bridge end to end: a real Mosquitto, a real 4-validator PBFT ledger, real
bridges and simulated devices (device_sim) speaking PROTOCOL.md.

Shows: MACed and signed readings are committed, acknowledged and provable; each error code
comes from its cause and nothing refused reaches the ledger; an unregistered device gets
`unauth`; an expired session gets `forbidden`; a replay after a bridge restart is refused; readings wait in the outbox while the
ledger is down and are committed after; a SIGKILL of the bridge loses no accepted reading;
two bridges on one shared subscription split the load and commit every reading once; a bridge
started before its gateway is registered waits for it, one registered nowhere exits 1."""
import signal
import threading
import time

import pltest as t


def main():
    t.bridge_bins()
    root = t.tmpdir("bridge")
    chain = t.Chain(root, n=4)
    chain.start_all()
    chain.register(devices=())
    broker = t.Mosquitto(root)
    bridge = t.BridgeProc(chain, broker, extra=["--max_payload_bytes=4096"])
    bridge.start()
    sim = lambda *a, **k: t.device_sim(chain, broker, *a, **k)

    # 1. MACed and signed readings: committed, acknowledged, provable.
    for mode in ("mac", "sig"):
        rc, s, _ = sim("--register", "--devices=3", "--device_prefix=ok-" + mode, "--mode=" + mode,
                       "--count=20", "--gateway_id=gw-1")
        t.check(s["acked_recorded"] == 60 and not s["errors"] and s["unanswered"] == 0,
                "%s readings all committed and acknowledged: %s" % (mode, s))
        dev = s["records"][-1]["device"]
        key = ["--device_pubkey=%s/devkeys/%s.key" % (root, dev)] if mode == "sig" else []
        rc, out, err = t.ctl("prove", s["last_record"], "--genesis=" + chain.genesis, *key,
                             chain.nodes_flag(), check_rc=False)
        t.check(rc == 0 and "proof verified" in err, "%s reading provable: %s" % (mode, err))
        if mode == "sig":
            t.check("device signature verifies" in err, "device signature checked: " + err)
    t.log("mac and sig readings committed, acknowledged, provable")

    # 2. Every error code from its cause, nothing on the ledger.
    cases = [("bad_mac", "mac", []), ("bad_sig", "sig", []), ("stale", "mac", []),
             ("malformed", "mac", []), ("too_large", "mac", ["--payload_size=5000"]),
             ("no_session", "mac", []), ("reserved_item", "mac", [])]
    for fault, mode, extra in cases:
        rc, s, err = sim("--register", "--devices=1", "--device_prefix=f-" + fault.replace("_", "-"),
                         "--mode=" + mode, "--count=3", "--fault=" + fault, *extra, check_rc=False)
        t.check(rc == 0, "fault %s answered with its code: rc=%d %s %s" % (fault, rc, s, err[-500:]))
    rc, s, err = sim("--devices=1", "--device_prefix=stranger", "--mode=sig", "--count=2",
                     "--expect_error=unregistered", check_rc=False)
    t.check(rc == 0, "unregistered device gets unauth: %s %s" % (s, err[-500:]))
    time.sleep(1.0)  # anything wrongly accepted would be committed by now
    for fault, _, _ in cases:
        dev = "f-%s-0" % fault.replace("_", "-")
        t.check(chain.history(dev) == [], "refused readings of %s reached the ledger" % dev)
    t.check(chain.history("stranger-0") == [], "an unregistered device's readings recorded")
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=dup", "--mode=mac", "--count=5",
                     "--fault=replay", check_rc=False)
    t.check(rc == 0, "replayed copies refused, originals acknowledged: %s %s" % (s, err[-500:]))
    t.check(len(chain.history("dup-0")) == 5, "replays not recorded twice")
    t.log("error codes: each produced by its cause, nothing recorded")

    # The bridge follows the registry without a restart: a revoked device is refused.
    t.ctl("revoke-device", "--id=ok-sig-0", "--admin_key=%s/admin.key" % root,
          "--genesis=" + chain.genesis, chain.nodes_flag())
    time.sleep(1.0)  # one registry refresh (300 ms here)
    rc, s, err = sim("--devices=1", "--device_prefix=ok-sig", "--mode=sig", "--count=2",
                     "--expect_error=unregistered", check_rc=False)
    t.check(rc == 0, "revoked device refused without a bridge restart: %s %s" % (s, err[-500:]))
    t.log("revoked device refused (registry followed live)")

    # 3. A replay after a bridge restart is still refused.
    rfile = root + "/replay.bin"
    sim("--register", "--devices=2", "--device_prefix=rr", "--mode=sig", "--count=5",
        "--replay_file=" + rfile)
    bridge.kill(signal.SIGTERM)
    t.log("bridge stopped: " + bridge.log().splitlines()[-1][:120])
    bridge.start()
    rc, s, err = sim("--replay_from=" + rfile, check_rc=False)
    t.check(rc == 0, "replay after restart refused: %s %s" % (s, err[-500:]))
    t.log("replay after bridge restart refused")

    # 4. Ledger down: readings wait in the outbox and are all committed after it returns.
    for i in range(4):
        chain.kill(i, signal.SIGTERM)
    result = {}

    def run_sim(key, *a):
        result[key] = sim(*a, check_rc=False)

    th = threading.Thread(target=run_sim, args=("outage", "--devices=2", "--device_prefix=out",
                                                "--mode=sig", "--count=30", "--ack_timeout_ms=90000"))
    # Devices must be registered while the ledger is up: register them first.
    for i in range(4):
        chain.start(i)
    sim("--register", "--devices=2", "--device_prefix=out", "--mode=sig", "--count=1",
        "--register_grace_ms=20000")
    time.sleep(1.0)  # the bridge's registry follower sees them
    for i in range(4):
        chain.kill(i, signal.SIGTERM)
    th.start()
    t.wait_for(lambda: bridge.stats().get("outbox", 0) >= 60, 60, "60 readings in the outbox")
    t.log("ledger down, outbox holds %d" % bridge.stats()["outbox"])
    for i in range(4):
        chain.start(i)
    th.join()
    rc, s, err = result["outage"]
    t.check(rc == 0 and s["acked_recorded"] == 60, "outbox drained after the outage: %s %s" % (s, err[-500:]))
    t.log("ledger outage: all 60 readings committed after it returned")

    # 5. SIGKILL of the bridge loses no reading it accepted.
    sim("--register", "--devices=2", "--device_prefix=kill", "--mode=sig", "--count=1",
        "--register_grace_ms=20000")
    time.sleep(1.0)
    for i in range(4):
        chain.kill(i, signal.SIGTERM)
    accepted_before = bridge.stats().get("accepted", 0)
    th = threading.Thread(target=run_sim, args=("kill", "--devices=2", "--device_prefix=kill",
                                                "--mode=sig", "--count=40", "--ack_timeout_ms=90000"))
    th.start()
    t.wait_for(lambda: bridge.stats().get("accepted", 0) >= accepted_before + 80, 60,
               "80 readings accepted into the outbox")
    bridge.kill(signal.SIGKILL)
    for i in range(4):
        chain.start(i)
    bridge.start()
    th.join()
    rc, s, err = result["kill"]
    t.check(rc == 0 and s["acked_recorded"] == 80, "accepted readings survive SIGKILL: %s %s" % (s, err[-500:]))
    for d in ("kill-0", "kill-1"):
        n = len(chain.history(d))
        t.check(n == 41, "device %s has %d records, want 1 + 40 (none lost, none twice)" % (d, n))
    t.log("bridge SIGKILL: all 80 accepted readings committed once")

    # 6. Two bridges on one shared subscription split the load, commit every reading once.
    # MAC sessions agreed with one bridge are honoured by the other (PROTOCOL.md 4).
    bridge.kill(signal.SIGTERM)
    t.ctl("keygen", "--out=%s/share.key" % root)
    share = ["--share_group=g1", "--share_secret=%s/share.key" % root]
    b0 = t.BridgeProc(chain, broker, name="s0", extra=share + ["--client_id=s0"])
    b1 = t.BridgeProc(chain, broker, name="s1", extra=share + ["--client_id=s1"])
    b0.start()
    b1.start()
    for mode in ("sig", "mac"):
        rc, s, err = sim("--register", "--devices=4", "--device_prefix=sh-" + mode, "--mode=" + mode,
                         "--count=50", check_rc=False)
        t.check(rc == 0 and s["acked_recorded"] == 200,
                "shared subscription, %s: %s %s" % (mode, s, err[-500:]))
        if mode == "mac":
            t.log("mac devices over two bridges: %d reading(s) resent after no_session" % s["resent"])
    time.sleep(2.5)  # one stats line each
    a0, a1 = b0.stats().get("accepted", 0), b1.stats().get("accepted", 0)
    t.check(a0 > 0 and a1 > 0 and a0 + a1 == 400, "both bridges took a share: %d + %d" % (a0, a1))
    t.check(b0.stats().get("shared_sessions", 0) + b1.stats().get("shared_sessions", 0) >= 4,
            "sessions were shared between the bridges")
    for mode in ("sig", "mac"):
        for i in range(4):
            d = "sh-%s-%d" % (mode, i)
            t.check(len(chain.history(d)) == 50, "device %s recorded exactly 50 times" % d)
    t.log("shared subscription: %d + %d readings, each committed once" % (a0, a1))

    b0.kill(signal.SIGTERM)
    b1.kill(signal.SIGTERM)

    # 7. An expired session gets `forbidden` (no_session): the device agrees a new key and
    # sends the reading again with a new seq; every reading ends up recorded.
    short = t.BridgeProc(chain, broker, name="short",
                         extra=["--session_lifetime_ms=1500", "--grace_ms=0", "--client_id=short"])
    short.start()
    rc, s, err = sim("--register", "--devices=2", "--device_prefix=exp", "--mode=mac", "--count=8",
                     "--rate=2", "--session_overrun_ms=2000", check_rc=False)
    t.check(rc == 0 and s["acked_recorded"] == 16, "expired sessions renewed: %s %s" % (s, err[-800:]))
    t.check(s["resent"] >= 1, "a session expired mid-run and a reading was refused: %s" % s)
    t.check("code=no_session" in short.log(), "the bridge refused a MAC under an expired session")
    t.log("expired session: %d reading(s) refused no_session and sent again" % s["resent"])
    short.kill(signal.SIGTERM)

    # 8. Overload: a bridge whose inbox holds only ~2 readings answers the rest `internal`
    # (nothing recorded, send again) instead of growing without bound or dropping silently.
    tiny = t.BridgeProc(chain, broker, name="tiny",
                        extra=["--inbox_capacity_bytes=3000", "--client_id=tiny"])
    tiny.start()
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=ovl", "--mode=sig", "--count=40",
                     "--payload_size=1500", "--workers=4", check_rc=False)
    internal = s["errors"].get("internal", 0)
    t.check(set(s["errors"]) <= {"internal"} and s["unanswered"] == 0 and
            s["acked_recorded"] + internal == 40, "every reading recorded or refused internal: %s" % s)
    t.check(internal >= 1, "the tiny inbox overflowed: %s" % s)
    t.check(len(chain.history("ovl-0")) == s["acked_recorded"], "exactly the acknowledged ones recorded")
    t.log("overload: %d recorded, %d answered internal" % (s["acked_recorded"], internal))
    tiny.kill(signal.SIGTERM)

    # 9. A bridge started before its gateway is registered anywhere waits (a registration
    # reaches the nodes one by one), then serves; one registered nowhere exits 1 once its
    # --startup_timeout_ms is spent, naming every node and what it said.
    t.ctl("keygen", "--out=%s/gw-2.key" % root)
    late = t.BridgeProc(chain, broker, name="late", gateway="gw-2",
                        extra=["--client_id=late", "--startup_timeout_ms=300000"])
    late.start(wait=False)
    t.wait_for(lambda: late.proc.poll() is not None or
               late.log().count("ev=startup_waiting") >= 3, 120,
               "the late bridge waiting for gw-2")
    t.check(late.proc.poll() is None, "a bridge whose gateway is not registered yet exited "
            "(rc=%s):\n%s" % (late.proc.returncode, late.log()[-2000:]))
    waiting = [l for l in late.log().splitlines() if "ev=startup_waiting" in l][-1]
    t.check("gateway 'gw-2' to be registered" in waiting and
            all(chain.addr(i) + " says NOT_FOUND" in waiting for i in range(len(chain.ids))),
            "the progress line names every node's answer: " + waiting)
    _, out, _ = t.ctl("register-gateway", "--id=gw-2", "--key=%s/gw-2.key" % root,
                      "--admin_key=%s/admin.key" % root, "--genesis=" + chain.genesis,
                      chain.nodes_flag())
    t.wait_for(lambda: late.proc.poll() is not None or "ev=bridge_ready" in late.log(), 120,
               "the late bridge ready once gw-2 is registered")
    t.check(late.proc.poll() is None, "the late bridge exited (rc=%s):\n%s" % (
        late.proc.returncode, late.log()[-2000:]))
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=late", "--mode=mac",
                     "--count=5", "--gateway_id=gw-2", check_rc=False)
    t.check(rc == 0 and s["acked_recorded"] == 5 and s["unanswered"] == 0,
            "the late bridge serves readings as gw-2: rc=%s %s %s" % (rc, s, err[-500:]))
    t.log("late bridge: waited %d tries for gw-2, then served 5 readings" %
          late.log().count("ev=startup_waiting"))
    late.kill(signal.SIGTERM)

    t.ctl("keygen", "--out=%s/gw-none.key" % root)
    nowhere = t.BridgeProc(chain, broker, name="nowhere", gateway="gw-none",
                           extra=["--client_id=nowhere", "--startup_timeout_ms=3000"])
    nowhere.start(wait=False)
    rc = nowhere.proc.wait(timeout=120)
    last = nowhere.log().rstrip().splitlines()[-1]
    t.check(rc == 1 and "gateway 'gw-none' to be registered after 3000 ms" in last and
            all(chain.addr(i) + " says NOT_FOUND" in last for i in range(len(chain.ids))),
            "a bridge whose gateway is registered nowhere exits 1 naming every node: rc=%s %s"
            % (rc, last))
    t.log("unregistered gateway: exit 1: " + last[:200])
    broker.stop()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("PASS")


if __name__ == "__main__":
    main()
