"""An independent verifier of provledger proofs (PROTOCOL.md 6.6/6.7 and its extension
docs/VALIDATOR_SET.md): the standard library and hashlib only, no provledger code.

    verify(genesis: dict, proof: dict) -> dict   raises VerifyError naming the failed step

It walks "validator_changes" from genesis: each change is proven against the set in force at
its height, its RegistryTx decoded (protobuf wire format, field numbers of proto/ledger.proto),
its admin signature checked, its base digest compared with the set before it; then the record
is proven against the set in force at its height (a change committed at h is in force above
E(h) = 16 * (h // 16 + 4)).
"""
import hashlib
import re

# ---- secp256k1 ECDSA verification (SEC 1), 64-byte compact low-S signatures ----
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


class VerifyError(Exception):
    pass


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def _mul(k, pt):
    out = None
    while k:
        if k & 1:
            out = _add(out, pt)
        pt = _add(pt, pt)
        k >>= 1
    return out


def decompress(pub):
    if len(pub) != 33 or pub[0] not in (2, 3):
        raise VerifyError("public key is not 33-byte compressed")
    x = int.from_bytes(pub[1:], "big")
    if x >= P:
        raise VerifyError("public key x out of range")
    y = pow((x * x * x + 7) % P, (P + 1) // 4, P)
    if (y * y - (x * x * x + 7)) % P != 0:
        raise VerifyError("public key is not on the curve")
    if y % 2 != pub[0] % 2:
        y = P - y
    return (x, y)


def ecdsa_verify(pub, digest, sig):
    if len(sig) != 64 or len(digest) != 32:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < N and 1 <= s <= (N - 1) // 2):  # low-S only
        return False
    q = decompress(pub)
    z = int.from_bytes(digest, "big")
    w = pow(s, N - 2, N)
    pt = _add(_mul(z * w % N, G), _mul(r * w % N, q))
    return pt is not None and pt[0] % N == r


# ---- byte layouts (PROTOCOL.md section 1 and 6) ----
def sha256(b):
    return hashlib.sha256(b).digest()


def u32(n):
    return n.to_bytes(4, "big")


def u64(n):
    return n.to_bytes(8, "big")


def lp(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise VerifyError("field past the end")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def u64(self):
        return int.from_bytes(self.take(8), "big")

    def lp(self):
        return self.take(int.from_bytes(self.take(4), "big"))

    def done(self):
        if self.i != len(self.b):
            raise VerifyError("trailing bytes")


def decode_header(b):
    r = Reader(b)
    if r.take(12) != b"pl/v1/header":
        raise VerifyError("header tag")
    h = {"chain_id": r.lp().decode(), "height": r.u64(), "prev": r.take(32), "root": r.take(32),
         "record_count": r.u64(), "timestamp": r.u64(), "view": r.u64(),
         "proposer": r.lp().decode()}
    r.done()
    return h


def registry_tx_of(record):
    """The tx bytes of a kind 4 record ("pl/v1/record" || u8(4) || lp(tx))."""
    r = Reader(record)
    if r.take(12) != b"pl/v1/record":
        raise VerifyError("record tag")
    if r.take(1) != b"\x04":
        raise VerifyError("not a registry record (kind 4)")
    tx = r.lp()
    r.done()
    return tx


def commit_digest(chain_id, height, view, header_hash):
    return sha256(b"pl/v1/commit" + lp(chain_id) + u64(height) + u64(view) + header_hash)


def root_from_path(leaf, index, size, path):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        raise VerifyError("leaf_index is not below tree_size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerifyError("audit path too long")
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerifyError("audit path too short")
    return r


# ---- protobuf wire format (only what a RegistryTx / SetValidators needs) ----
def pb_fields(b):
    """[(field number, wire type, value)]: varints as ints, length-delimited as bytes."""
    out, i = [], 0
    def varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            if i >= len(b) or shift > 63:
                raise VerifyError("bad varint")
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v
    while i < len(b):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, wt, varint()))
        elif wt == 2:
            n = varint()
            if i + n > len(b):
                raise VerifyError("length past the end")
            out.append((num, wt, b[i:i + n]))
            i += n
        elif wt == 1:
            out.append((num, wt, b[i:i + 8])); i += 8
        elif wt == 5:
            out.append((num, wt, b[i:i + 4])); i += 4
        else:
            raise VerifyError("unsupported wire type %d" % wt)
    return out


def last_bytes(fields, num):
    v = b""
    for n, wt, val in fields:
        if n == num and wt == 2:
            v = val
    return v


def decode_set_change(genesis, tx):
    """The (base digest, members) of a RegistryTx holding a SetValidators op."""
    txf = pb_fields(tx)
    op_bytes, admin, sig = last_bytes(txf, 1), last_bytes(txf, 2), last_bytes(txf, 3)
    if admin.hex() not in genesis["admins"]:
        raise VerifyError("registry tx not signed by a genesis admin")
    digest = sha256(b"pl/v1/registry" + lp(genesis["chain_id"]) + lp(op_bytes))
    if not ecdsa_verify(admin, digest, sig):
        raise VerifyError("registry tx admin signature does not verify")
    opf = pb_fields(op_bytes)
    if last_bytes(opf, 1).decode() != genesis["chain_id"]:
        raise VerifyError("registry op is for another chain")
    if not any(n == 12 and wt == 2 for n, wt, _ in opf):
        raise VerifyError("registry op is not a validator-set change (field 12)")
    sv = pb_fields(last_bytes(opf, 12))
    base = last_bytes(sv, 1)
    members = []
    for n, wt, val in sv:
        if n == 2 and wt == 2:
            e = pb_fields(val)
            members.append({"id": last_bytes(e, 1).decode(), "pubkey": last_bytes(e, 2),
                            "address": last_bytes(e, 3).decode()})
    check_set(members)
    if len(base) != 32:
        raise VerifyError("base_set_digest is not 32 bytes")
    return base, members


def check_set(members):
    if not 1 <= len(members) <= 100:
        raise VerifyError("a set has 1..100 members")
    if len({m["id"] for m in members}) != len(members) or \
            len({m["pubkey"] for m in members}) != len(members):
        raise VerifyError("ids and keys must be unique")
    for m in members:
        if not NAME.match(m["id"]):
            raise VerifyError("bad validator id")
        decompress(m["pubkey"])
        host, _, port = m["address"].rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise VerifyError("address is not host:port")


# ---- validator sets (docs/VALIDATOR_SET.md) ----
def set_digest(members):
    b = b"pl/v1/validators" + u32(len(members))
    for m in members:
        b += lp(m["id"]) + m["pubkey"] + lp(m["address"])
    return sha256(b)


def quorum(n):
    f = (n - 1) // 3
    return (n + f) // 2 + 1


def epoch_end(h):
    return 16 * (h // 16 + 4)


def set_at(schedule, height):
    """schedule: [(committed height, members)], genesis first with height None."""
    current = schedule[0][1]
    for h, members in schedule[1:]:
        if epoch_end(h) < height:
            current = members
    return current


def prove_record(chain_id, members, p, where):
    """Steps 3-8 of 6.7 against `members`, the set in force at p's height; the record bytes."""
    record = bytes.fromhex(p["record"])
    rid = bytes.fromhex(p["record_id"])
    if sha256(b"\x00" + record) != rid:
        raise VerifyError(where + "step 3: record_id")
    path = [bytes.fromhex(x) for x in p["audit_path"]]
    root = root_from_path(rid, p["leaf_index"], p["tree_size"], path)
    header = bytes.fromhex(p["header"])
    h = decode_header(header)
    if h["chain_id"] != chain_id or h["height"] != p["height"] or \
            h["record_count"] != p["tree_size"] or h["root"] != root:
        raise VerifyError(where + "step 5: header")
    if h["proposer"] != members[h["view"] % len(members)]["id"]:
        raise VerifyError(where + "step 5: proposer is not the primary")
    hh = sha256(header)
    if bytes.fromhex(p["header_hash"]) != hh:
        raise VerifyError(where + "step 6: header_hash")
    cert = p["certificate"]
    if cert["view"] < h["view"]:
        raise VerifyError(where + "step 7: view")
    digest = commit_digest(chain_id, p["height"], cert["view"], hh)
    if bytes.fromhex(cert["digest"]) != digest:
        raise VerifyError(where + "step 7: digest")
    by_id = {m["id"]: m for m in members}
    seen = set()
    for s in cert["signatures"]:
        m = by_id.get(s["validator"])
        if m is None or s["validator"] in seen:
            raise VerifyError(where + "step 8: signer %s not in the set or twice" % s["validator"])
        if bytes.fromhex(s["pubkey"]) != m["pubkey"]:
            raise VerifyError(where + "step 8: key of %s" % s["validator"])
        if not ecdsa_verify(m["pubkey"], digest, bytes.fromhex(s["sig"])):
            raise VerifyError(where + "step 8: signature of %s" % s["validator"])
        seen.add(s["validator"])
    if len(seen) < quorum(len(members)):
        raise VerifyError(where + "step 8: %d signatures, %d needed" %
                          (len(seen), quorum(len(members))))
    return record


def verify(genesis, proof):
    if proof.get("v") != 1 or proof.get("chain_id") != genesis["chain_id"]:
        raise VerifyError("step 2")
    gmembers = [{"id": v["id"], "pubkey": bytes.fromhex(v["pubkey"]), "address": v["address"]}
                for v in genesis["validators"]]
    schedule = [(None, gmembers)]
    height = proof["height"]
    last = 0
    for i, c in enumerate(proof.get("validator_changes", [])):
        where = "validator_changes[%d]: " % i
        h = c["height"]
        if h < last:
            raise VerifyError(where + "not in height order")
        last = h
        if epoch_end(h) >= height:
            raise VerifyError(where + "not in force at height %d" % height)
        record = prove_record(genesis["chain_id"], set_at(schedule, h), c, where)
        base, members = decode_set_change(genesis, registry_tx_of(record))
        if base != set_digest(schedule[-1][1]):
            raise VerifyError(where + "base is not the set before it")
        schedule.append((h, members))
    prove_record(genesis["chain_id"], set_at(schedule, height), proof, "")
    return {"changes": len(schedule) - 1, "set_size": len(set_at(schedule, height))}
