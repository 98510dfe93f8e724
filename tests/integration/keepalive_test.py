"""Keepalive pings are accepted by the node: a Submit that waits for its commit (no quorum:
two of four validators stopped) keeps its connection for longer than three keepalive periods
and ends on its own deadline (DEADLINE_EXCEEDED), not on a GOAWAY "too_many_pings" from the
server (UNAVAILABLE after ~4 s), which gRPC sends to pinging clients unless the server permits
the pings (client/channel_options.h ApplyServerKeepalive). Loopback only, no root needed."""
import os
import signal
import subprocess
import time

import pltest as t

WAIT_MS = 8000  # eight keepalive periods of 1 s


def main():
    t.bins()
    root = t.tmpdir("keepalive")
    chain = t.Chain(root, n=4)
    for i in range(4):
        chain.start(i, ["--view_change_timeout_ms=1000"])
    chain.register(devices=("dev-1",))
    chain.kill(2, signal.SIGTERM)
    chain.kill(3, signal.SIGTERM)
    args = [a if not a.startswith("--node=") else "--node=" + chain.addr(0)
            for a in chain.submit_args()]
    # gRPC's own log names a GOAWAY; ask for it so a failure says why.
    env = dict(os.environ, GRPC_VERBOSITY="debug", GRPC_TRACE="http_keepalive")
    start = time.time()
    cmd = t.with_transport([t.LEDGERCTL] + args + ["--count=1", "--timeout_ms=%d" % WAIT_MS])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    took = time.time() - start
    last = [l for l in p.stderr.splitlines() if l.startswith("ledgerctl")]
    t.log("submit without a quorum: rc=%d after %.1f s, %d keepalive pings: %s" % (
        p.returncode, took, p.stderr.count("Start keepalive ping"), last))
    t.check(p.returncode != 0 and last and "DEADLINE_EXCEEDED" in last[-1],
            "the submission ended on its deadline, not on a dropped connection: %s" % last)
    t.check("too_many_pings" not in p.stderr and "Got goaway" not in p.stderr,
            "the node sent GOAWAY to a client pinging during a call")
    t.check(p.stderr.count("Start keepalive ping") >= 3, "the client pinged during the call")
    chain.stop_all()
    print("PASS")


if __name__ == "__main__":
    main()
