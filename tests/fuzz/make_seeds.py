#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets that read their input with libFuzzer's
FuzzedDataProvider (device_message, ...) into tests/fuzz/corpus/<target>/. Run it after
changing what a target reads: python3 tests/fuzz/make_seeds.py

FuzzedDataProvider (LLVM 14) takes strings from the front of the input and integers from the
back; Fdp below lays out an input that it reads back as the given values.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


class Fdp:
    def __init__(self):
        self.front = b""
        self.tail = []  # bytes, in the order they are consumed from the back

    def string(self, s):  # ConsumeRandomLengthString
        if isinstance(s, str):
            s = s.encode()
        self.front += s.replace(b"\\", b"\\\\") + b"\\x"
        return self

    def integral(self, value, lo, hi):  # ConsumeIntegralInRange / ConsumeIntegral / Bool
        rng = hi - lo
        nbytes = max(1, (rng.bit_length() + 7) // 8)
        v = value - lo
        self.tail += list(v.to_bytes(nbytes, "big"))
        return self

    def boolean(self, b):
        return self.integral(1 if b else 0, 0, 255)

    def rest(self, data):  # ConsumeRemainingBytesAsString
        if isinstance(data, str):
            data = data.encode()
        return self.front + data + bytes(reversed(self.tail))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


NOW_SPAN = (-400000, 400000)
KID = "c919def2b263a0af"
MAC = "98a98063b9b8fbbcb5aba57d2ccded7b720d34665bd269c7d58d00c799d2e276"
SIG = ("4b1d2a7e1a1ac1a5c15f5c6bb2ad0e0f0a1c6d0f8f0d6d3aa1e9b8f0a2d7c3e1"
       "3c2a0f5e7d9b1c3e5a7f9d1b3c5e7a9f1d3b5c7e9a1f3d5b7c9e1a3f5d7b9c1e")


def device_message():
    def raw(name, topic, props, payload, now_delta=0):
        f = Fdp().boolean(False).string(topic).integral(len(props), 0, 8)
        for k, v in props:
            f.string(k).string(v)
        f.integral(now_delta, *NOW_SPAN)
        write("device_message", name, f.rest(payload))

    a3 = [("pl-seq", "1"), ("pl-ts", "1700000001000"), ("pl-kid", KID), ("pl-mac", MAC)]
    raw("a3_mac_reading", "devices/dev-1/data/climate", a3, "21.5")
    raw("a3_sig_reading", "devices/dev-1/data/climate",
        [("pl-seq", "1"), ("pl-ts", "1700000001000"), ("pl-sig", SIG)], "21.5")
    raw("integrity_report", "devices/dev-1/integrity", a3,
        '{"v":1,"boot":"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d","from":0,"entries":'
        '[{"pcr":10,"template":"ima-ng","hash":"sha256:' + "ab" * 32 + '","path":"/bin/sh"}]}')
    raw("install_report", "devices/dev-1/update/status", a3,
        '{"v":1,"vendor":"acme","model":"m-1","version":"1.4.0-rc.1+b7","counter":7,'
        '"result":"installed","reason":"ok"}')
    raw("key_request", "devices/dev-1/key", [],
        '{"v":1,"device":"dev-1","eph":"02' + "11" * 32 + '","nonce":"' + "22" * 16 +
        '","ts":1700000001000,"sig":"' + "33" * 64 + '"}')
    raw("unknown_device", "devices/dev-9/data/x", a3[:2], "1")

    def honest(name, mac, seq, ts_off, item, what, where, delta, payload):
        f = Fdp().boolean(True).boolean(mac).integral(seq, 1, (1 << 53) - 1)
        f.integral(ts_off, 0, 400000).string(item).integral(what, 0, 255)
        f.integral(where, 0, (1 << 64) - 1).integral(delta, 1, 255)
        write("device_message", name, f.rest(payload))

    for what in range(7):
        honest("honest_mac_change%d" % what, True, 5, 200000, "climate", what, 3, 1, "21.5")
        honest("honest_sig_change%d" % what, False, 9, 100, "temp", what, 0, 0x20,
               '{"value":21.5}')




def plain_seeds():
    """Seeds that are whole documents: copies of the repo's test vectors and examples."""
    root = os.path.dirname(os.path.dirname(HERE))
    boot = "6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d"
    write("integrity_report", "a4_empty", ('{"v":1,"boot":"%s","from":0,"entries":[]}' % boot).encode())
    write("integrity_report", "entries", (
        '{"v":1,"boot":"%s","from":3,"entries":[{"pcr":10,"template":"ima-ng","hash":"sha256:%s",'
        '"path":"/bin/sh"},{"pcr":0,"template":"file","hash":"sha1:%s","path":"/etc/x"},'
        '{"pcr":10,"template":"ima-sig","hash":"sha512:%s","path":"/usr/bin/dd","x":1}]}'
        % (boot, "ab" * 32, "cd" * 20, "ef" * 64)).encode())
    report = ('{"v":1,"vendor":"acme","model":"m-1","version":"1.4.0-rc.1+b7","counter":7,'
              '"result":"installed","reason":"ok"}')
    write("install_report", "section8", report.encode())
    write("install_report", "refused", report.replace("installed", "refused").encode())
    write("firmware_manifest", "firmware_md_vector", (
        '{"v":1,"vendor":"acme","model":"sensor-1","version":"1.2.0","counter":7,"size":32,'
        '"sha256":"75fa65b8072d6fe32293c68b053a52eae3abcb89959b315a3ede96b4ad1f8cfc",'
        '"location":"file:///var/lib/provledger/fw/sensor-1-1.2.0.bin",'
        '"sig":"2552a04f1ef55ca3459252c302114e03d4f7d2cd4f6366cd5f6b3129b58e7139'
        '424004f9fef54a4b8a7d501e8b0cab7214e5b3e497562af91dd0f7e978fccbe7"}').encode())
    for f in ("ima_ng_real.txt", "ima_sig_real.txt", "mixed_list.txt"):
        with open(os.path.join(root, "tests/agent/testdata", f), "rb") as src:
            write("ima_list", f, src.read())
    with open(os.path.join(root, "tests/testdata/appendix_a5_genesis.json"), "rb") as src:
        write("genesis", "appendix_a5", src.read())
    with open(os.path.join(root, "tests/testdata/appendix_a5_proof.json"), "rb") as src:
        proof_text = src.read()
    write("proof", "appendix_a5", proof_text)
    # Each of appendix_a5_mutants.json's rows applied: documents one step of 6.7 refuses.
    with open(os.path.join(root, "tests/testdata/appendix_a5_mutants.json")) as src:
        mutants = json.load(src)["mutants"]
    for i, m in enumerate(mutants):
        doc = json.loads(proof_text)
        *parents, last = m["path"]
        node = doc
        for p in parents:
            node = node[p]
        if m["op"] == "set":
            node[last] = m["value"]
        elif m["op"] == "delete":
            del node[last]
        elif m["op"] == "insert":
            node.insert(last, m["value"])
        else:
            continue
        write("proof", "mutant_%02d" % i, json.dumps(doc).encode())
    write("config", "node", b'{"listen":"127.0.0.1:7001","batch_max":250,"fsync":false}')
    write("config", "bad_type", b'{"listen":["x"]}')
    write("config", "unknown", b'{"nope":1}')
    write("config", "double", b'{"loss":"0.25"}')


def pbft_msg(type_, view=0, height=0, digest=b"", sender=0, block=b"", cp_height=0, cp_digest=b"",
             cp_proof=(), prepared=(), view_changes=(), pre_prepares=(), epoch=0, sig=b"\x5a" * 32):
    """consensus/pbft_messages.cc's Encode."""
    u32 = lambda v: v.to_bytes(4, "big")
    u64 = lambda v: v.to_bytes(8, "big")
    lp = lambda b: u32(len(b)) + b
    lst = lambda items: u32(len(items)) + b"".join(lp(m) for m in items)
    out = bytes([1 if epoch == 0 else 2, type_])
    if epoch:
        out += u64(epoch)
    out += u64(view) + u64(height) + lp(digest) + u32(sender) + lp(block) + u64(cp_height)
    out += lp(cp_digest) + lst(cp_proof) + u32(len(prepared))
    for pp, prepares in prepared:
        out += lp(pp) + lst(prepares)
    out += lst(view_changes) + lst(pre_prepares)
    return out + lp(sig)


def pbft_seeds():
    h = bytes(range(32))
    pp = pbft_msg(1, 0, 1, h, 0, b"block-bytes")
    prep = pbft_msg(2, 0, 1, h, 2)
    write("pbft_messages", "pre_prepare", pp)
    write("pbft_messages", "prepare", prep)
    write("pbft_messages", "commit", pbft_msg(3, 0, 1, h, 3))
    write("pbft_messages", "checkpoint_epoch", pbft_msg(4, 0, 16, h, 1, epoch=16))
    cp = pbft_msg(4, 0, 4, h, 2)
    vc = pbft_msg(5, 1, 0, b"", 2, cp_height=4, cp_digest=h, cp_proof=[cp, cp],
                  prepared=[(pp, [prep, prep])])
    write("pbft_messages", "view_change", vc)
    write("pbft_messages", "new_view", pbft_msg(6, 1, 0, b"", 1, view_changes=[vc, vc],
                                                pre_prepares=[pbft_msg(1, 1, 5, h, 1, b"b")]))
    write("pbft_messages", "suspect", pbft_msg(7, 0, 0, b"", 3))
    # pbft_core: op bytes (FuzzedDataProvider integers, from the back): messages, ticks, requests.
    f = Fdp()
    for op in (3, 4, 0, 0, 1, 0, 4, 2, 5, 0):
        f.integral(op, 0, 6)
        if op in (0, 1):
            f.integral(op % 7 + 1, 1, 7).integral(0, 0, 3).integral(1, 0, 12)
            f.integral(0, 0, 63).integral(op % 4, 0, 4)
        elif op == 4:
            f.integral(9, 1, 10)
    write("pbft_core", "mixed", f.rest(b"\x00" * 64))
    write("pbft_core", "raw_pre_prepare", Fdp().integral(2, 0, 6).string(pp).rest(b""))
    # Height 1 committed: the primary's pre-prepare on genesis, a prepare and two commits on
    # its header hash (the second entry of the fuzzer's hash list), then ticks.
    f = Fdp()
    f.integral(0, 0, 6).integral(1, 1, 7).integral(0, 0, 3).integral(1, 0, 12)  # pre-prepare
    f.integral(0, 0, 4).integral(0, 0, 3).integral(1, 0, 15)  # sender 0, no request, signed
    for type_, sender in ((2, 2), (3, 0), (3, 2)):
        f.integral(0, 0, 6).integral(type_, 1, 7).integral(0, 0, 3).integral(1, 0, 12)
        f.integral(1, 0, 255).integral(sender, 0, 4).integral(1, 0, 15)
    f.integral(4, 0, 6).integral(10, 1, 10)
    write("pbft_core", "commit_height_1", f.rest(b""))
    # Ten honest rounds with ticks, a forged prepare and a request between them.
    f = Fdp()
    for i in range(10):
        f.integral(6, 0, 6)
        if i % 3 == 2:
            f.integral(4, 0, 6).integral(3, 1, 10).integral(3, 0, 6)
    write("pbft_core", "honest_rounds", f.rest(bytes(range(64))))


def device_answers_seeds():
    """PROTOCOL.md A.2's key reply, and the answer shapes of agent/bridge_answers.h."""
    write("device_answers", "a2_key_reply", (
        '{"v":1,"gateway":"gw-1","eph":"03f96444870a8ea462e78b82ecbdd0ce50fc5bb6e1679c92064d9b09'
        'a026a35168","nonce":"101112131415161718191a1b1c1d1e1f","kid":"c919def2b263a0af",'
        '"expires":1700086400250,"sig":"9ccd25b14d9c370730eb4a56fc62868cb2c2d98f2af116c1cbe607'
        '84652df34c61ade3300e488880eec6532d1fc813054100bf5def06ff0f90a9e536f1b8c389"}').encode())
    write("device_answers", "verdict", (
        '{"v":1,"seq":3,"verdict":"untrusted","failures":[{"path":"/bin/sh","hash":"sha256:%s"}],'
        '"record":"%s","height":9}' % ("ab" * 32, "cd" * 32)).encode())
    write("device_answers", "error_key", (
        '{"v":1,"code":"stale","reason":"ts outside the window","nonce":"%s"}' % ("00" * 16)).encode())
    write("device_answers", "error_reading",
          b'{"v":1,"code":"replay","reason":"seq seen","seq":7,"item":"climate"}')


def mqtt_packet(type_flags, body):
    """An MQTT packet: fixed header (type << 4 | flags, Remaining Length varint) + body."""
    out, n = bytearray([type_flags]), len(body)
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


def mqtt_str(s):
    s = s.encode() if isinstance(s, str) else s
    return len(s).to_bytes(2, "big") + s


def mqtt_packet_seeds():
    """What a broker sends the bridge's consumer (common/mqtt_packet.h); the first byte of
    each seed picks the fuzzer's packet size limit (64 << (b % 19)): 0x0c is 256 KiB."""
    props = (b"\x26" + mqtt_str("pl-seq") + mqtt_str("7") + b"\x26" + mqtt_str("pl-ts") +
             mqtt_str("1700000000000") + b"\x26" + mqtt_str("pl-sig") + mqtt_str("ab" * 64))
    pub1 = mqtt_packet(0x32, mqtt_str("devices/dev-1/data/temp") + b"\x00\x01" +
                       bytes([len(props)]) + props + b'{"t":21.5}')
    pub_dup = mqtt_packet(0x3A, mqtt_str("devices/dev-1/data/temp") + b"\x01\x00" + b"\x00" +
                          b"x" * 300)
    pub0 = mqtt_packet(0x31, mqtt_str("devices/dev-1/key") + b"\x00" + b"hello")
    connack = mqtt_packet(0x20, b"\x01\x00\x0a\x21\x00\x14\x13\x00\x05\x12" + mqtt_str("x"))
    suback = mqtt_packet(0x90, b"\x00\x01\x00\x01\x01\x87")
    disconnect = mqtt_packet(0xE0, b"\x8e\x04\x1f" + mqtt_str("z"))
    lim = b"\x0c"
    write("mqtt_packet", "connack", lim + connack)
    write("mqtt_packet", "publish_qos1_props", lim + pub1)
    write("mqtt_packet", "publish_dup", lim + pub_dup)
    write("mqtt_packet", "publish_qos0_retained", lim + pub0)
    write("mqtt_packet", "suback", lim + suback)
    write("mqtt_packet", "pingresp_disconnect", lim + b"\xd0\x00" + disconnect)
    write("mqtt_packet", "stream", lim + connack + suback + pub1 + pub0 + pub_dup + b"\xd0\x00")
    write("mqtt_packet", "small_limit", b"\x00" + pub_dup)
    write("mqtt_packet", "cut_short", lim + pub1[:-3])
    write("mqtt_packet", "long_length", lim + b"\x30\xff\xff\xff\x7f")


def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb(fields):
    """A protobuf message from (field number, value): int = varint, bytes/str = length-delimited."""
    out = b""
    for num, v in fields:
        if isinstance(v, int):
            out += pb_varint(num << 3) + pb_varint(v)
        else:
            v = v.encode() if isinstance(v, str) else v
            out += pb_varint(num << 3 | 2) + pb_varint(len(v)) + v
    return out


def ledger_service_seeds():
    root = os.path.dirname(os.path.dirname(HERE))
    with open(os.path.join(root, "tests/testdata/appendix_a5_proof.json")) as src:
        proof = json.load(src)
    record = bytes.fromhex(proof["record"])
    rid = bytes.fromhex(proof["record_id"])
    batch = pb([(1, "gw-1"), (2, record), (3, b"21.5"), (4, b"\x11" * 64)])
    seeds = {  # method index (ledger_service_fuzzer.cc) -> request
        "submit": (0, pb([(1, batch)])),
        "submit_registry": (1, pb([(1, b"\x0a\x04test")])),
        "status": (2, b""),
        "block_head": (3, pb([(1, 0)])),
        "block_2_payloads": (3, pb([(1, 2), (2, 1)])),
        "record_by_id": (4, pb([(1, rid)])),
        "record_by_seq": (4, pb([(2, "dev-1"), (3, 1)])),
        "proof": (5, pb([(1, rid)])),
        "history": (6, pb([(1, "dev-1"), (2, "climate"), (3, 0), (4, 0), (5, 10)])),
        "devices": (7, pb([(1, "dev-1")])),
        "gateways": (8, b""),
        "submit_firmware": (9, pb([(1, record)])),
        "firmware": (10, pb([(1, "acme"), (2, "sensor-1"), (3, 1)])),
        "validators": (11, b""),
        "policies": (12, pb([(2, 1)])),
        "headers": (13, pb([(1, 1), (2, 3)])),
        "attestations": (14, b""),
        "state_rows": (15, pb([(1, 3)])),
        "deliver": (16, pb([(1, 2), (2, pbft_msg(2, 0, 1, bytes(range(32)), 2)),
                            (3, pb([(1, batch)]))])),
    }
    for name, (method, body) in seeds.items():
        write("ledger_service", name, bytes([method]) + body)


if __name__ == "__main__":
    device_message()
    plain_seeds()
    pbft_seeds()
    ledger_service_seeds()
    device_answers_seeds()
    mqtt_packet_seeds()
