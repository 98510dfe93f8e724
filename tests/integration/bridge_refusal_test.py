"""Issue 11, items 1 and 2, end to end: a real Mosquitto, a real 4-validator PBFT ledger, a
real bridge and simulated devices (device_sim) speaking PROTOCOL.md.

1. One refused record must not jam the outbox. A device is revoked while it and five others
   publish; the bridge learns of the revocation only at its next registry refresh (4 s here,
   so it goes on accepting that device's readings for a while and the ledger refuses them).
   Every reading of the revoked device is answered (acknowledged before the revocation,
   `unauth`/`unregistered` after it), every other device's reading is committed and
   acknowledged, the outbox drains to 0, and nothing is resubmitted for ever.
2. One acknowledgement per (device, item, block), in height order, `datas` exactly once on
   the block holding the device/item's first record: bursts of 1,000 readings from 4
   devices as fast as they go.
"""
import signal
import threading
import time

import pltest as t


def main():
    t.bridge_bins()
    root = t.tmpdir("bridge_refusal")
    chain = t.Chain(root, n=4)
    chain.start_all()
    chain.register(devices=())
    broker = t.Mosquitto(root)
    # The last --registry_refresh_ms wins: a slow registry follower keeps accepting the
    # revoked device's readings for seconds, so the ledger is the one that refuses them.
    bridge = t.BridgeProc(chain, broker, extra=["--registry_refresh_ms=4000"])
    bridge.start()
    sim = lambda *a, **k: t.device_sim(chain, broker, *a, **k)

    # ---- 1. Revocation under load -------------------------------------------------------
    sim("--register", "--devices=1", "--device_prefix=victim", "--mode=sig", "--count=1",
        "--register_grace_ms=20000")
    sim("--register", "--devices=5", "--device_prefix=good", "--mode=sig", "--count=1",
        "--register_grace_ms=20000")
    result = {}

    def run(key, *a):
        result[key] = sim(*a, check_rc=False, timeout=400)

    count = 300  # per device, 50/s: 6 s of publishing
    victim = threading.Thread(target=run, args=(
        "victim", "--devices=1", "--device_prefix=victim", "--mode=sig", "--count=%d" % count,
        "--rate=50", "--ack_timeout_ms=150000"))
    good = threading.Thread(target=run, args=(
        "good", "--devices=5", "--device_prefix=good", "--mode=sig", "--count=%d" % count,
        "--rate=50", "--ack_timeout_ms=150000"))
    committed_before = bridge.stats().get("committed", 0)
    victim.start()
    good.start()
    t.wait_for(lambda: bridge.stats().get("committed", 0) >= committed_before + 200, 60,
               "the devices' first readings committed")
    t.ctl("revoke-device", "--id=victim-0", "--admin_key=%s/admin.key" % root,
          "--genesis=" + chain.genesis, chain.nodes_flag())
    t.log("victim-0 revoked while publishing")
    victim.join()
    good.join()
    rc_v, sv, err_v = result["victim"]
    rc_g, sg, err_g = result["good"]
    t.check(sv is not None and sg is not None, "device_sim summaries: %s %s" % (err_v[-500:],
                                                                              err_g[-500:]))
    refused = sv["errors"].get("unregistered", 0)
    t.log("victim: %d acknowledged, %d answered unregistered, %d unanswered" %
          (sv["acked_recorded"], refused, sv["unanswered"]))
    t.log("others: %d acknowledged, errors %s, %d unanswered" %
          (sg["acked_recorded"], sg["errors"], sg["unanswered"]))
    t.check(sg["acked_recorded"] == 5 * count and not sg["errors"] and sg["unanswered"] == 0,
            "every other device's reading committed and acknowledged: %s" % sg)
    t.check(sv["unanswered"] == 0, "every reading of the revoked device answered: %s" % sv)
    t.check(set(sv["errors"]) <= {"unregistered"} and refused > 0 and
            sv["acked_recorded"] + refused == count,
            "the revoked device's readings after the revocation answered unregistered: %s" % sv)
    t.check(len(chain.history("victim-0")) == 1 + sv["acked_recorded"],
            "exactly the acknowledged readings of the revoked device are on the ledger")

    # The outbox drains, and nothing is resubmitted for ever afterwards.
    # A stats line is written whenever something moved: the last one counts every ack.
    acked = committed_before + 5 * count + sv["acked_recorded"]
    t.wait_for(lambda: bridge.stats().get("committed", 0) >= acked and
               bridge.stats().get("outbox", -1) == 0, 60, "the outbox to drain to 0")
    st = bridge.stats()
    t.log("bridge after the revocation: outbox=%d ledger_refused=%d submit_errors=%d" %
          (st["outbox"], st.get("ledger_refused", 0), st["submit_errors"]))
    t.check(st.get("ledger_refused", 0) > 0,
            "the ledger refused some of the revoked device's readings: %s" % st)
    errors_then = st["submit_errors"]
    # A device registered while the bridge runs is served at once, without a restart, and
    # no batch went to the ledger again meanwhile (a stats line is written only when
    # something moved: the new device's readings make one).
    time.sleep(3)
    rc, s, err = sim("--register", "--devices=1", "--device_prefix=late", "--mode=sig",
                     "--count=20", check_rc=False, timeout=200)
    t.check(rc == 0 and s["acked_recorded"] == 20, "a new device is served: %s %s" % (s, err[-500:]))
    lines = bridge.stats_lines()
    t.wait_for(lambda: bridge.stats_lines() > lines and bridge.stats().get("outbox", -1) == 0, 30,
               "a stats line after the new device's readings")
    t.check(bridge.stats()["submit_errors"] == errors_then,
            "no batch resubmitted after the outbox drained: %s" % bridge.stats())
    t.log("item 1: no reading stuck, outbox 0, revoked device answered unregistered")

    # ---- 2. Bursts: one ack per (device, item, block), in height order, datas once ------
    for burst in range(5):
        prefix = "burst%d" % burst
        sim("--register", "--devices=4", "--device_prefix=" + prefix, "--mode=sig", "--count=1",
            "--item=warmup", "--register_grace_ms=20000")
        rc, s, err = sim("--devices=4", "--device_prefix=" + prefix, "--mode=sig", "--count=250",
                         "--item=temp", "--workers=4", check_rc=False, timeout=300)
        t.check(s is not None, "device_sim summary: %s" % err[-500:])
        shape = s["ack_shape"]
        t.log("burst %d: %d readings acknowledged by %d acks, ack shape %s" %
              (burst, s["acked_recorded"], shape["acks"], shape))
        t.check(rc == 0 and s["acked_recorded"] == 1000, "burst %d all acknowledged: %s" % (burst, s))
        t.check(shape["items"] == 4, "acks for the 4 devices: %s" % shape)
        t.check(shape["same_block"] == 0,
                "burst %d: at most one ack per device, item and block: %s" % (burst, shape))
        t.check(shape["out_of_order"] == 0, "burst %d: acks in height order: %s" % (burst, shape))
        t.check(shape["datas"] == 4 and shape["datas_not_first"] == 0 and
                shape["items_without_datas"] == 0,
                "burst %d: datas exactly once per device and item, on its first block: %s" %
                (burst, shape))
    t.log("item 2: one ack per device, item and block; in height order; datas once")

    bridge.kill(signal.SIGTERM)
    broker.stop()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    print("PASS")


if __name__ == "__main__":
    main()
