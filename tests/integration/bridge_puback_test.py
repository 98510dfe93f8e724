"""A bridge killed between taking a batch of readings and sending their PUBACKs loses none and
records none twice (docs/RELIABILITY.md finding 7; the acked consumer, common/mqtt_consumer.h).

A real Mosquitto, a one-validator ledger, device_sim publishing signed readings under load and
tests/integration:killing_bridge, the real bridge with a seam that SIGKILLs it in its
consumer thread once it has received 300 messages:
  1. `received`: a batch in hand, nothing of it in the intake: the broker never had a PUBACK
     for it and sends it again to the restarted bridge.
  2. `written`: the batch in the intake, no PUBACK sent: the restarted bridge verifies it from
     the intake and the broker sends it again too (DUP); the copy is a replay of what was
     taken in and gets no answer of its own.
After each kill the real mqtt_bridge starts on the same data folder and session. Every
reading must end acknowledged (none unanswered, none refused) and be on the ledger exactly
once."""
import collections
import os
import signal
import threading
import time

import pltest as t

DEVICES, COUNT, RATE = 4, 150, 60  # 600 readings at ~240/s per round
KILL_AFTER = 300


def kill_round(chain, broker, phase, prefix):
    sim = lambda *a, **k: t.device_sim(chain, broker, *a, **k)
    real = t.MQTT_BRIDGE
    t.MQTT_BRIDGE = t.runfile("tests/integration/killing_bridge")
    os.environ["PL_TEST_KILL_PHASE"] = phase
    os.environ["PL_TEST_KILL_AFTER"] = str(KILL_AFTER)
    bridge = t.BridgeProc(chain, broker, name="b0")
    start = len(bridge.log()) if os.path.exists(bridge.logpath) else 0  # earlier rounds' lines
    try:
        bridge.start()
    finally:
        t.MQTT_BRIDGE = real
        del os.environ["PL_TEST_KILL_PHASE"]
        del os.environ["PL_TEST_KILL_AFTER"]
    sim("--register", "--devices=%d" % DEVICES, "--device_prefix=" + prefix, "--mode=sig",
        "--count=1", "--register_grace_ms=20000")
    time.sleep(1.0)  # the bridge's registry follower sees them
    result = {}

    def load():
        result["load"] = sim("--devices=%d" % DEVICES, "--device_prefix=" + prefix,
                             "--mode=sig", "--count=%d" % COUNT, "--rate=%d" % RATE,
                             "--workers=%d" % DEVICES, "--ack_timeout_ms=180000",
                             check_rc=False, timeout=600)

    th = threading.Thread(target=load)
    th.start()
    t.wait_for(lambda: bridge.proc.poll() is not None, 120, "the seam to kill the bridge")
    rc = bridge.proc.returncode
    bridge.proc = None
    killed = [l for l in bridge.log()[start:].splitlines() if "ev=test_bridge_killing" in l]
    t.check(rc == -signal.SIGKILL and len(killed) == 1 and "phase=" + phase in killed[0],
            "the bridge killed itself at phase %s: rc=%s %s" % (phase, rc, killed))
    t.log("%s: %s" % (phase, killed[0]))
    restart = len(bridge.log())
    bridge.start()  # the real bridge, same data folder and MQTT session
    th.join()
    new_log = bridge.log()[restart:]
    rc, s, err = result["load"]
    t.check(s is not None, "device_sim printed a summary: rc=%d %s" % (rc, err[-1000:]))
    t.log("%s round: %d readings, %d acknowledged, errors %s, %d unanswered, %d unmatched; "
          "last bridge_stats %s" % (phase, s["readings"], s["acked_recorded"], s["errors"],
                                         s["unanswered"], s["unmatched"], bridge.stats()))
    t.check(s["readings"] == DEVICES * COUNT, "every reading published: %s" % s)
    t.check(s["unanswered"] == 0, "no reading lost (unanswered): %s" % s.get("unanswered_seqs"))
    t.check(s["acked_recorded"] == DEVICES * COUNT and not sum(s["errors"].values()),
            "every reading acknowledged as recorded, none refused: %s" % s)
    for i in range(DEVICES):
        dev = "%s-%d" % (prefix, i)
        seqs = collections.Counter(e["seq"] for e in chain.history(dev))
        twice = sorted(q for q, n in seqs.items() if n > 1)
        t.check(not twice, "%s: seqs recorded twice: %s" % (dev, twice[:20]))
        t.check(len(seqs) == COUNT + 1, "%s: %d records on the ledger, want %d" % (
            dev, len(seqs), COUNT + 1))
    restored = [l for l in new_log.splitlines() if "ev=intake_restored" in l]
    if phase == "written":
        # The killed batch was in the intake: verified from there, and its redelivered copies
        # (DUP) ignored as replays of what was taken in.
        t.check(restored, "the restarted bridge verified the intake the killed one wrote")
        # The verifier logs each copy's refusal; the pipeline answers none of them (no
        # `replay` reached a device: errors {} above).
        replays = [l for l in new_log.splitlines()
                   if "ev=message_refused" in l and "code=replay" in l]
        t.check(replays, "the broker redelivered the batch never acknowledged (DUP copies "
                "refused as replays of what was taken in)")
    t.log("%s round: nothing lost, nothing recorded twice; %s" % (
        phase, restored[0] if restored else "no intake to restore"))
    bridge.kill(signal.SIGTERM)


def main():
    t.bridge_bins()
    root = t.tmpdir("bridge_puback")
    chain = t.Chain(root, n=1)
    chain.start_all()
    chain.register(devices=())
    broker = t.Mosquitto(root)
    kill_round(chain, broker, "received", "rcv")
    kill_round(chain, broker, "written", "wrt")
    t.log("PASS")


if __name__ == "__main__":
    main()
