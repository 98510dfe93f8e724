"""Transport security and roles end to end (docs/SECURITY.md): a 4-validator ledger serving
mutual TLS with certificates from `ledgerctl certs`, a Mosquitto with a TLS listener, a
password file and the device ACL, a bridge over ssl:// with a password.

Shows: a bridge's reading is committed and provable over TLS; a client without a certificate,
or with one of another CA, is refused; a reader certificate is refused Submit with
PERMISSION_DENIED; a gateway certificate naming gw-1 is refused a batch of gw-2; a reader
limited to device A is refused device B's history; a validator whose certificate is no peer
one is refused by the others (counted in metrics, logged ev=access_denied) while the three
others go on committing; the broker refuses anonymous clients and a device publishing under
another device's topics or reading another's answers."""
import json
import os
import re
import subprocess
import time
import urllib.request

import pltest as t


def metric(port, name, labels):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main():
    t.bridge_bins()
    root = t.tmpdir("tls")
    certs = root + "/certs"
    t.make_certs(certs, peers=["v0", "v1", "v2", "v3"], gateways=["gw-1", "gw-2"],
                 admins=["admin"], readers=["reader", "reader-a:sim-0"], servers=["broker"])
    for f in os.listdir(certs):
        if f.endswith(".key"):
            t.check(os.stat(os.path.join(certs, f)).st_mode & 0o077 == 0, f + " is mode 0600")
    rogue = root + "/rogue"  # a CA of its own, unknown to the nodes
    t.make_certs(rogue, admins=["admin"])

    chain = t.Chain(root, n=4, certs=certs)
    metrics_port = t.free_port()
    chain.start(0, ["--metrics_listen=127.0.0.1:%d" % metrics_port])
    chain.start(1)
    chain.start(2)
    # v3 holds a gateway's certificate instead of its peer one: the others refuse its
    # consensus messages; three validators still commit.
    logf = open(root + "/v3.log", "a")
    v3 = t.spawn(t.validator_argv(root, chain.genesis, "v3") + t.tls_flags(certs, "gw-2"),
                 stdout=logf, stderr=subprocess.STDOUT)
    chain.procs[3] = v3
    # Up before the first block, so that it votes on it (and is refused) instead of fetching.
    t.wait_for(lambda: chain.status(3) is not None, 60, "v3 to answer")
    t.check("transport=tls" in open(root + "/v0.log").read(), "v0 says it serves TLS")
    chain.register(gateway="gw-1", devices=("dev-b",))
    chain.register(gateway="gw-2", devices=())
    admin = t.tls_flags(certs, "admin")
    reader = t.tls_flags(certs, "reader")

    # gw-1 submits a reading of dev-b as itself: committed.
    rc, out, err = t.ctl(*chain.submit_args("dev-b", "gw-1"), "--json",
                         *t.tls_flags(certs, "gw-1"), check_rc=False)
    t.check(rc == 0, "gw-1 submits as gw-1 over TLS: %s %s" % (out, err[-800:]))
    t.wait_for(lambda: len(json.loads(t.ctl("history", "--device=dev-b", "--json",
                                                  chain.nodes_flag(), *reader)[1])) == 1,
               60, "dev-b's reading in its history")

    # The bridge over ssl:// with a password, and over TLS to the nodes.
    users = {"gw-1": "gw1-secret", "sim-0": "sim0-secret", "dev-b": "devb-secret"}
    broker = t.Mosquitto(root, certs=certs, users=users, gateways=["gw-1"])
    bridge = t.BridgeProc(chain, broker, gateway="gw-1",
                          extra=t.tls_flags(certs, "gw-1") + broker.client_flags("gw-1"))
    bridge.start()
    sim_flags = broker.client_flags("sim-0") + admin
    rc, s, err = t.device_sim(chain, broker, "--register", "--devices=1", "--device_prefix=sim",
                              "--count=5", "--gateway_id=gw-1", *sim_flags, check_rc=False)
    t.check(rc == 0 and s and s["acked_recorded"] == 5 and not s["errors"],
            "readings over ssl:// with a password committed: %s %s" % (s, err[-1500:]))
    rc, out, err = t.ctl("prove", s["last_record"], "--genesis=" + chain.genesis,
                         chain.nodes_flag(), *reader, check_rc=False)
    t.check(rc == 0 and "proof verified" in err, "the bridge's reading is provable: " + err)
    t.log("bridge over ssl:// + password, nodes over mutual TLS: 5 readings committed, proven")

    # No certificate, or one of another CA: refused at the handshake.
    rc, out, err = t.ctl("status", "--node=" + chain.addr(0), "--timeout_ms=3000", "--insecure",
                         check_rc=False)
    t.check(rc != 0 and "UNAVAILABLE" in err, "a plaintext client is refused: %s" % err[-500:])
    # ledgerctl itself refuses to present a certificate the CA did not sign ...
    rc, out, err = t.ctl("status", "--node=" + chain.addr(0), "--timeout_ms=3000",
                         "--tls_ca=%s/ca.pem" % certs, "--tls_cert=%s/admin.pem" % rogue,
                         "--tls_key=%s/admin.key" % rogue, check_rc=False)
    t.check(rc != 0 and "does not verify against --tls_ca" in err,
            "ledgerctl refuses a certificate of another CA: %s" % err[-300:])
    rc, out, err = t.ctl("status", "--node=" + chain.addr(0), "--timeout_ms=3000",
                         *t.tls_flags(rogue, "admin"), check_rc=False)
    t.check(rc != 0 and "UNAVAILABLE" in err,
            "a client trusting another CA refuses the node: %s" % err[-300:])

    # ... and the node refuses such a certificate, or none, in the TLS handshake (openssl as
    # the client, since ours check first; gRPC logs why). A good certificate is the control.
    def handshake(*cert):
        before = open(root + "/v0.log", errors="replace").read().count("Handshake failed")
        subprocess.run(["openssl", "s_client", "-connect", chain.addr(0), "-CAfile",
                        certs + "/ca.pem", "-alpn", "h2"] + list(cert), input="",
                       capture_output=True, timeout=30)
        time.sleep(0.5)
        text = open(root + "/v0.log", errors="replace").read()
        return text.count("Handshake failed") - before, text

    failed, _ = handshake("-cert", certs + "/admin.pem", "-key", certs + "/admin.key")
    t.check(failed == 0, "a certificate of the CA passes the handshake")
    for what, cert, why in [("no certificate", [], "peer did not return a certificate"),
                            ("another CA's certificate",
                             ["-cert", rogue + "/admin.pem", "-key", rogue + "/admin.key"],
                             "certificate verify failed")]:
        failed, text = handshake(*cert)
        t.check(failed >= 1 and why in text,
                "the node refuses a client with %s in the handshake (%s)" % (what, why))
    t.log("plaintext and wrong-CA clients refused")

    # A reader may not submit; a gateway only as itself.
    rc, out, err = t.ctl(*chain.submit_args("dev-b", "gw-1"), *reader, check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err and "reader" in err,
            "a reader's Submit is PERMISSION_DENIED: %s" % err[-500:])
    gw2_as_gw1 = chain.submit_args("dev-b", "gw-2")
    rc, out, err = t.ctl(*gw2_as_gw1, *t.tls_flags(certs, "gw-1"), check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err and "gw-2" in err,
            "gw-1's certificate may not submit gw-2's batch: %s" % err[-500:])
    # The admin may not submit readings either (only registry and firmware records).
    rc, out, err = t.ctl(*chain.submit_args("dev-b", "gw-1"), *admin, check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err, "an admin's Submit refused: %s" % err[-300:])
    t.check(len(chain.history("dev-b")) == 1, "nothing refused reached the ledger")
    t.log("reader Submit and gw-1 as gw-2 refused PERMISSION_DENIED")

    # A reader limited to sim-0: its history yes, dev-b's no, no whole blocks.
    limited = t.tls_flags(certs, "reader-a")
    rc, out, err = t.ctl("history", "--device=sim-0", "--json", chain.nodes_flag(), *limited,
                         check_rc=False)
    t.check(rc == 0 and len(json.loads(out)) == 5, "reader-a reads sim-0: %s" % err[-300:])
    rc, out, err = t.ctl("history", "--device=dev-b", chain.nodes_flag(), *limited,
                         check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err and "dev-b" in err,
            "reader-a is refused dev-b's history: %s" % err[-300:])
    rc, out, err = t.ctl("block", "1", chain.nodes_flag(), *limited, check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err, "reader-a may not read whole blocks")
    dev_b_record = json.loads(t.ctl("history", "--device=dev-b", "--json", chain.nodes_flag(),
                                      *reader)[1])[0]["record_id"]
    rc, out, err = t.ctl("prove", dev_b_record, "--genesis=" + chain.genesis, chain.nodes_flag(),
                         *limited, check_rc=False)
    t.check(rc != 0 and "PERMISSION_DENIED" in err, "reader-a may not prove dev-b's record")
    rc, out, err = t.ctl("prove", s["last_record"], "--genesis=" + chain.genesis,
                         chain.nodes_flag(), *limited, check_rc=False)
    t.check(rc == 0 and "proof verified" in err, "reader-a proves sim-0's record: " + err[-300:])
    t.log("reader limited to sim-0: refused dev-b's history, blocks and proofs")

    # v3's gateway certificate: its consensus messages are refused by the others.
    t.wait_for(lambda: metric(metrics_port, "provledger_node_access_denied_total",
                              {"method": "Deliver", "role": "gateway", "reason": "role"}) > 0,
               60, "v0 counting v3's refused Deliver calls")
    v0_log = open(root + "/v0.log").read()
    t.check(re.search(r"ev=access_denied method=\w+ role=gateway id=gw-2", v0_log),
            "v0 logs ev=access_denied for v3's calls")
    # The clients ask v0 first (--node order), so v0 counted their refusals.
    t.check(metric(metrics_port, "provledger_node_access_denied_total",
                   {"method": "Submit", "role": "reader", "reason": "role"}) >= 1,
            "v0 counted the reader's refused Submit")
    t.check(metric(metrics_port, "provledger_node_access_denied_total",
                   {"method": "History", "role": "reader", "reason": "device"}) >= 1,
            "v0 counted the limited reader's refused History")
    t.check(v3.poll() is None, "v3 is refused, not crashed")
    for i in range(3):
        t.check(chain.procs[i].poll() is None, "v%d still runs" % i)
    t.log("a validator without a peer certificate refused by the others, counted, no crash")

    # The broker: no anonymous clients, no wrong password, and the device ACL.
    sub_tool, pub_tool = "mosquitto_sub", "mosquitto_pub"
    p = subprocess.run([pub_tool] + broker.cli_flags() + ["-t", "devices/sim-0/data/x", "-m",
                                                          "x"], capture_output=True, text=True,
                       timeout=30)
    t.check(p.returncode != 0, "an anonymous client is refused by the broker: %s" % p.stderr)
    p = subprocess.run([pub_tool] + broker.cli_flags() + ["-u", "sim-0", "-P", "wrong", "-t",
                                                          "devices/sim-0/data/x", "-m", "x"],
                       capture_output=True, text=True, timeout=30)
    t.check(p.returncode != 0, "a wrong password is refused: %s" % p.stderr)

    def listen(user, topic, count):
        """mosquitto_sub as `user` on `topic`, printing up to `count` messages in 8 s."""
        proc = subprocess.Popen([sub_tool] + broker.cli_flags(user) +
                                ["-t", topic, "-v", "-C", str(count), "-W", "8"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # subscribed
        return proc

    def publish(user, topic, text):
        subprocess.run([pub_tool] + broker.cli_flags(user) + ["-q", "1", "-t", topic, "-m", text],
                       capture_output=True, text=True, timeout=30)

    # sim-0 publishes under dev-b's topic: the broker drops it (gw-1 sees only the control).
    spy = listen("gw-1", "devices/+/data/acl", 2)
    publish("sim-0", "devices/dev-b/data/acl", "forged")
    publish("sim-0", "devices/sim-0/data/acl", "own")
    out, _ = spy.communicate(timeout=30)
    t.check("devices/sim-0/data/acl own" in out, "the control message is delivered: %r" % out)
    t.check("forged" not in out, "sim-0 may not publish under dev-b's topic: %r" % out)
    # dev-b's answers are not delivered to sim-0; its own are.
    foreign = listen("sim-0", "devices/dev-b/#", 1)
    own = listen("sim-0", "devices/sim-0/#", 1)
    publish("gw-1", "devices/dev-b/data/temp/success", "for dev-b")
    publish("gw-1", "devices/sim-0/data/temp/success", "for sim-0")
    out_foreign, _ = foreign.communicate(timeout=30)
    out_own, _ = own.communicate(timeout=30)
    t.check("for dev-b" not in out_foreign, "sim-0 may not read dev-b's answers: %r" % out_foreign)
    t.check("for sim-0" in out_own, "sim-0 reads its own answers: %r" % out_own)
    t.log("broker: anonymous and wrong password refused; device ACL holds")

    bridge.kill()
    broker.stop()
    chain.stop_all()
    t.check_sanitizer_logs(root)
    t.log("PASS")


if __name__ == "__main__":
    main()
