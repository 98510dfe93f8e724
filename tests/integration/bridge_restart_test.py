"""A bridge restarted under load loses nothing and leaves nothing unanswered (issue 11, item 4),
with the install-report shape (item 3) and the bridge's log lines (item 6) checked on the way.

A real Mosquitto, a real 4-validator PBFT ledger, one bridge and device_sim publishing a few
hundred signed readings/s. The bridge is stopped with SIGTERM mid-load and started again. Every
published reading must end either committed and acknowledged, or answered with an error; none
lost (neither on the ledger nor answered), none committed but unanswered; the stopping bridge
takes no message after it logs `bridge_stopping`.

Environment: PL_BRIDGE_UNDER_TEST=<path> runs another mqtt_bridge binary (e.g. one built from
an older commit) to measure the figures before a fix."""
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pltest as t


def mqtt_exchange(broker, sub_topic, pub_topic, payload, props, timeout_s=20):
    """Publishes `payload` (bytes) with MQTT v5 user properties `props` to `pub_topic` and
    returns the first message on `sub_topic` (None if none came)."""
    sub = t.spawn([shutil.which("mosquitto_sub"), "-V", "5", "-p", str(broker.port),
                   "-h", "127.0.0.1", "-q", "1", "-t", sub_topic, "-C", "1",
                   "-W", str(timeout_s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)  # let the subscription reach the broker (answers are not retained)
    args = [shutil.which("mosquitto_pub"), "-V", "5", "-p", str(broker.port), "-h", "127.0.0.1",
            "-q", "1", "-t", pub_topic, "-s"]
    for k, v in props:
        args += ["-D", "PUBLISH", "user-property", k, v]
    subprocess.run(args, input=payload, check=True, timeout=20)
    out, _ = sub.communicate(timeout=timeout_s + 10)
    return out.decode(errors="replace").strip() or None


def check_install_reports(broker):
    """Item 3: an install report not of section 8's shape is `malformed`, with its seq."""
    hdr = [("pl-seq", "5"), ("pl-ts", str(int(time.time() * 1000))), ("pl-sig", "ab" * 64)]
    for desc, payload in [("40 random bytes", os.urandom(40)),
                          ("v 2", b'{"v":2,"vendor":"acme","model":"m","version":"1.0.0",'
                                  b'"counter":1,"result":"installed","reason":""}')]:
        got = mqtt_exchange(broker, "devices/rep-x/update/status/error",
                            "devices/rep-x/update/status", payload, hdr)
        t.check(got is not None, "install report (%s) answered on update/status/error" % desc)
        ans = json.loads(got)
        t.check(ans.get("code") == "malformed" and ans.get("seq") == 5 and
                ans.get("item") == "_update", "install report (%s): %s" % (desc, got))
    # An integrity report not of section 7's shape is `malformed`, with its seq.
    got = mqtt_exchange(broker, "devices/rep-x/integrity/error", "devices/rep-x/integrity",
                        b"{}", [("pl-seq", "6"), ("pl-ts", "1"), ("pl-sig", "ab" * 64)])
    t.check(got is not None, "integrity report answered")
    ans = json.loads(got)
    t.check(ans.get("code") == "malformed" and ans.get("seq") == 6 and
            ans.get("item") == "_integrity",
            "integrity error answer carries seq and item: %s" % got)
    t.log("install reports: malformed ones refused with their seq; integrity answer has seq")


def settled_late(chain, bridge, s, timeout_s=300):
    """Waits (up to timeout_s) until the bridge has settled: its outbox empty and its received
    count unchanged for 10 s. Returns how many of summary `s`'s unanswered readings are on the
    ledger then."""
    deadline, last, since = time.time() + timeout_s, None, time.time()
    while time.time() < deadline:
        st = bridge.stats()
        key = (st.get("received"), st.get("committed"))
        if key != last:
            last, since = key, time.time()
        elif st.get("outbox", 1) == 0 and time.time() - since >= 10:
            break
        time.sleep(1)
    late = 0
    for dev, seqs in s.get("unanswered_seqs", {}).items():
        on_ledger = {e["seq"] for e in chain.history(dev)}
        late += sum(1 for q in seqs if q in on_ledger)
    return late


def load_and_restart(chain, broker, bridge, prefix, sig):
    """Runs a load of ~400 signed readings/s, stops the bridge with `sig` mid-load, starts it
    again and waits for device_sim's verdict. Returns (summary, committed_unacked, lost, the
    stopped bridge's log)."""
    devices, count, rate = 8, 300, 50  # 2400 readings at ~400/s
    sim = lambda *a, **k: t.device_sim(chain, broker, *a, **k)
    sim("--register", "--devices=%d" % devices, "--device_prefix=" + prefix, "--mode=sig",
        "--count=1", "--register_grace_ms=20000")
    time.sleep(1.0)  # the bridge's registry follower sees them
    result = {}

    def load():
        result["load"] = sim("--devices=%d" % devices, "--device_prefix=" + prefix, "--mode=sig",
                             "--count=%d" % count, "--rate=%d" % rate,
                             "--workers=%d" % devices, "--ack_timeout_ms=180000",
                             check_rc=False, timeout=600)

    accepted_before = bridge.stats().get("accepted", 0)
    th = threading.Thread(target=load)
    th.start()
    t.wait_for(lambda: bridge.stats().get("accepted", 0) >= accepted_before + 600, 120,
               "600 readings of the load accepted")
    t0 = time.time()
    bridge.proc.send_signal(sig)
    exit_rc = bridge.proc.wait(timeout=120)
    bridge.proc = None
    t.log("bridge exited %d after signal %d in %.1fs" % (exit_rc, sig, time.time() - t0))
    if sig == signal.SIGTERM:
        if exit_rc != 0:
            t.check_sanitizer_logs(chain.root)  # a sanitizer's exit code: show its report
        t.check(exit_rc == 0, "bridge exits 0 after SIGTERM")
    old_log = bridge.log()
    bridge.start()
    th.join()
    rc, s, err = result["load"]
    t.check(s is not None, "device_sim printed a summary: rc=%d %s" % (rc, err[-1000:]))
    # Each unanswered reading is either on the ledger (committed, never acknowledged) or
    # nowhere (lost).
    committed_unacked, lost = 0, 0
    for dev, seqs in s.get("unanswered_seqs", {}).items():
        on_ledger = {e["seq"] for e in chain.history(dev)}
        for q in seqs:
            if q in on_ledger:
                committed_unacked += 1
            else:
                lost += 1
    if lost:
        # Tell a late reading from a lost one: once the bridge has settled (nothing left in
        # its outbox, nothing more received), is it on the ledger after all?
        late = settled_late(chain, bridge, s)
        t.log("%s load: %d of the %d readings device_sim gave up on were recorded after it "
              "stopped waiting; bridge stats %s" % (prefix, late, lost, bridge.stats()))
    t.log("%s load, signal %d: %d readings, %d acknowledged, %d answered with an error %s, "
          "%d unanswered (%d committed but unacknowledged, %d lost), %d unmatched answers" %
          (prefix, sig, s["readings"], s["acked_recorded"], sum(s["errors"].values()), s["errors"],
           s["unanswered"], committed_unacked, lost, s["unmatched"]))
    t.log("%s load: publish rate %.0f/s, ack rate %.0f/s, latency ms %s" %
          (prefix, s["publish_rate"], s["ack_rate"], s["latency_ms"]))
    t.check(s["readings"] == devices * count, "every reading published: %s" % s)
    # Exactly the acknowledged and the committed-but-unacknowledged readings are on the
    # ledger (and 1 registration reading each).
    on_ledger = sum(len({e["seq"] for e in chain.history("%s-%d" % (prefix, i))})
                    for i in range(devices))
    t.check(on_ledger == devices + s["acked_recorded"] + committed_unacked,
            "%d records on the ledger, want %d" % (on_ledger,
                                                   devices + s["acked_recorded"] + committed_unacked))
    return s, committed_unacked, lost, old_log


def main():
    t.bridge_bins()
    if os.environ.get("PL_BRIDGE_UNDER_TEST"):
        t.MQTT_BRIDGE = os.environ["PL_BRIDGE_UNDER_TEST"]
        t.log("bridge under test: " + t.MQTT_BRIDGE)
    root = t.tmpdir("bridge_restart")
    chain = t.Chain(root, n=4)
    chain.start_all()
    chain.register(devices=())
    broker = t.Mosquitto(root)
    strict = not os.environ.get("PL_BRIDGE_UNDER_TEST")
    extra = ["--drain_timeout_ms=20000"] if strict else []
    extra += os.environ.get("PL_BRIDGE_EXTRA", "").split()  # experiments, e.g. --intake_sync=false
    bridge = t.BridgeProc(chain, broker, extra=extra)
    bridge.start()
    sim = lambda *a, **k: t.device_sim(chain, broker, *a, **k)

    # Item 6: a session agreement is its own info event, logged once, not a wrapped refusal.
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=mac", "--mode=mac",
                     "--count=3", check_rc=False)
    t.check(rc == 0 and s["acked_recorded"] == 3, "mac readings committed: %s %s" % (s, err[-500:]))
    agreed = [l for l in bridge.log().splitlines() if "ev=session_agreed" in l]
    t.log("session agreement logged as: " + (agreed[0] if agreed else "(nothing)"))
    if strict:
        t.check(len(agreed) == 1 and " lvl=info " in agreed[0] and "ev=device_refused" not in
                agreed[0] and 'detail="ts=' not in bridge.log(),
                "a session agreement is logged once as lvl=info ev=session_agreed: %s" % agreed)
        check_install_reports(broker)

    # Item 4: SIGTERM mid-load, restart, every reading settled.
    s, committed_unacked, lost, old_log = load_and_restart(chain, broker, bridge, "ld",
                                                           signal.SIGTERM)
    stopping = re.findall(r"ev=bridge_stopping .*?received=(\d+)", old_log)
    stopped = re.findall(r"ev=bridge_stopped .*?received=(\d+)", old_log)
    t.log("old bridge: received %s at bridge_stopping, %s at bridge_stopped" % (stopping, stopped))
    errors = sum(s["errors"].values())
    t.check(lost == 0, "%d readings lost (neither recorded nor answered)" % lost)
    t.check(committed_unacked == 0, "%d committed readings never acknowledged" % committed_unacked)
    t.check(s["unanswered"] == 0, "no reading unanswered: %s" % s)
    t.check(s["acked_recorded"] + errors == s["readings"], "each reading answered once: %s" % s)
    t.check(len(stopping) == 1 and len(stopped) == 1 and stopping == stopped,
            "no message taken after bridge_stopping: received %s then %s" % (stopping, stopped))
    t.log("SIGTERM under load: nothing lost, nothing unanswered")

    # SIGKILL under load: what the bridge took in (PUBACKed) was on disk first, so nothing
    # is lost. Answers it had queued in memory die with it, but their outbox entries stay
    # until the broker has the answer: after the restart the ledger answers them as
    # duplicates and the devices are acknowledged.
    s, committed_unacked, lost, _ = load_and_restart(chain, broker, bridge, "kl", signal.SIGKILL)
    t.check(lost == 0, "SIGKILL: %d readings lost (neither recorded nor answered)" % lost)
    # The broker redelivers what was taken in but not yet PUBACKed: that copy is not
    # answered `replay` (the reading is recorded and acknowledged).
    t.check(not s["errors"], "SIGKILL: no reading answered with an error: %s" % s["errors"])
    t.check(s["unanswered"] == 0, "SIGKILL: no reading unanswered (%d committed but "
            "unacknowledged): %s" % (committed_unacked, s.get("unanswered_seqs")))
    t.log("SIGKILL under load: nothing lost, nothing unanswered")

    bridge.kill(signal.SIGTERM)
    broker.stop()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("PASS")


if __name__ == "__main__":
    main()
