#include "consensus/pbft_messages.h"

#include "common/sha256.h"

namespace provledger {
namespace consensus {
namespace {

constexpr uint8_t kEncodingVersion = 1;       // epoch 0: as before epochs existed
constexpr uint8_t kEpochEncodingVersion = 2;  // any other epoch: u64be(epoch) after the type
constexpr size_t kMaxBlockBytes = size_t{1} << 30;
constexpr size_t kMaxNestedBytes = size_t{1} << 31;
constexpr size_t kMaxSignatureBytes = 1024;
constexpr uint32_t kMaxListCount = 1 << 16;
constexpr int kMaxDepth = 2;  // new-view > view-change > checkpoint / certificate parts

void AppendList(Bytes* out, const std::vector<ConsensusMsg>& list) {
  AppendU32(out, static_cast<uint32_t>(list.size()));
  for (const ConsensusMsg& m : list) AppendLp(out, Encode(m));
}

// The fields before the block, then lp(block), then the fields after it: every field but the
// signature (EncodeBody). Kept apart so that SigningDigest hashes a pre-prepare's block (up
// to a whole block's payloads) where it lies, and Encode copies it once.
Bytes EncodeHead(const ConsensusMsg& msg) {
  Bytes out;
  AppendU8(&out, msg.epoch == 0 ? kEncodingVersion : kEpochEncodingVersion);
  AppendU8(&out, static_cast<uint8_t>(msg.type));
  if (msg.epoch != 0) AppendU64(&out, msg.epoch);
  AppendU64(&out, msg.view);
  AppendU64(&out, msg.height);
  AppendLp(&out, msg.digest);
  AppendU32(&out, msg.sender);
  AppendU32(&out, static_cast<uint32_t>(msg.block.size()));  // lp(block)'s length
  return out;
}

Bytes EncodeTail(const ConsensusMsg& msg) {
  Bytes out;
  AppendU64(&out, msg.checkpoint_height);
  AppendLp(&out, msg.checkpoint_digest);
  AppendList(&out, msg.checkpoint_proof);
  AppendU32(&out, static_cast<uint32_t>(msg.prepared.size()));
  for (const PreparedCert& c : msg.prepared) {
    AppendLp(&out, Encode(c.pre_prepare));
    AppendList(&out, c.prepares);
  }
  AppendList(&out, msg.view_changes);
  AppendList(&out, msg.pre_prepares);
  return out;
}

// Every field but the signature, followed by `extra` bytes of room (reserved, not written).
Bytes EncodeBody(const ConsensusMsg& msg, size_t extra = 0) {
  const Bytes head = EncodeHead(msg);
  const Bytes tail = EncodeTail(msg);
  Bytes out;
  out.reserve(head.size() + msg.block.size() + tail.size() + extra);
  out.append(head);
  out.append(msg.block.data(), msg.block.size());
  out.append(tail);
  return out;
}

Status DecodeAt(ByteView data, int depth, ConsensusMsg* msg);

Status ReadNested(ByteReader* r, int depth, ConsensusMsg::Type want, ConsensusMsg* out) {
  if (depth > kMaxDepth) return InvalidArgumentError("consensus message nested too deep");
  Bytes raw;
  PL_RETURN_IF_ERROR(r->ReadLp(&raw, kMaxNestedBytes));
  PL_RETURN_IF_ERROR(DecodeAt(raw, depth, out));
  if (out->type != want) {
    return InvalidArgumentError(std::string("nested ") + TypeName(out->type) + ", want " +
                                TypeName(want));
  }
  return OkStatus();
}

Status ReadList(ByteReader* r, int depth, ConsensusMsg::Type want, std::vector<ConsensusMsg>* out) {
  uint32_t count = 0;
  PL_RETURN_IF_ERROR(r->ReadU32(&count));
  if (count > kMaxListCount || count > r->remaining()) {
    return InvalidArgumentError("consensus message list too long");
  }
  out->resize(count);
  for (ConsensusMsg& m : *out) PL_RETURN_IF_ERROR(ReadNested(r, depth, want, &m));
  return OkStatus();
}

bool DigestSizeOk(const Bytes& d, bool may_be_empty) {
  return d.size() == kSha256Size || (may_be_empty && d.empty());
}

// Refuses fields the type does not use.
Status CheckShape(const ConsensusMsg& m) {
  const bool vc_empty = m.checkpoint_height == 0 && m.checkpoint_digest.empty() &&
                        m.checkpoint_proof.empty() && m.prepared.empty();
  const bool nv_empty = m.view_changes.empty() && m.pre_prepares.empty();
  bool ok = false;
  switch (m.type) {
    case ConsensusMsg::kPrePrepare:
      ok = DigestSizeOk(m.digest, false) && vc_empty && nv_empty;
      break;
    case ConsensusMsg::kPrepare:
    case ConsensusMsg::kCommit:
      ok = DigestSizeOk(m.digest, false) && m.block.empty() && vc_empty && nv_empty;
      break;
    case ConsensusMsg::kCheckpoint:
      ok = DigestSizeOk(m.digest, false) && m.view == 0 && m.block.empty() && vc_empty && nv_empty;
      break;
    case ConsensusMsg::kViewChange:
      ok = m.height == 0 && m.digest.empty() && m.block.empty() &&
           DigestSizeOk(m.checkpoint_digest, true) && nv_empty;
      break;
    case ConsensusMsg::kNewView:
      ok = m.height == 0 && m.digest.empty() && m.block.empty() && vc_empty;
      break;
    case ConsensusMsg::kSuspect:
      ok = m.height == 0 && m.digest.empty() && m.block.empty() && vc_empty && nv_empty;
      break;
    default:
      return InvalidArgumentError("unknown consensus message type");
  }
  if (!ok) {
    return InvalidArgumentError(std::string(TypeName(m.type)) +
                                ": fields its type does not use, or a bad digest size");
  }
  return OkStatus();
}

Status DecodeAt(ByteView data, int depth, ConsensusMsg* msg) {
  ByteReader r(data);
  uint8_t version = 0;
  uint8_t type = 0;
  PL_RETURN_IF_ERROR(r.ReadU8(&version));
  if (version != kEncodingVersion && version != kEpochEncodingVersion) {
    return InvalidArgumentError("unknown encoding version");
  }
  PL_RETURN_IF_ERROR(r.ReadU8(&type));
  if (type < ConsensusMsg::kPrePrepare || type > ConsensusMsg::kSuspect) {
    return InvalidArgumentError("unknown consensus message type");
  }
  *msg = ConsensusMsg();
  msg->type = static_cast<ConsensusMsg::Type>(type);
  if (version == kEpochEncodingVersion) {
    PL_RETURN_IF_ERROR(r.ReadU64(&msg->epoch));
    // One encoding per message: epoch 0 has only version 1.
    if (msg->epoch == 0) return InvalidArgumentError("version 2 encoding of epoch 0");
  }
  PL_RETURN_IF_ERROR(r.ReadU64(&msg->view));
  PL_RETURN_IF_ERROR(r.ReadU64(&msg->height));
  PL_RETURN_IF_ERROR(r.ReadLp(&msg->digest, kSha256Size));
  PL_RETURN_IF_ERROR(r.ReadU32(&msg->sender));
  PL_RETURN_IF_ERROR(r.ReadLp(&msg->block, kMaxBlockBytes));
  PL_RETURN_IF_ERROR(r.ReadU64(&msg->checkpoint_height));
  PL_RETURN_IF_ERROR(r.ReadLp(&msg->checkpoint_digest, kSha256Size));
  PL_RETURN_IF_ERROR(ReadList(&r, depth + 1, ConsensusMsg::kCheckpoint, &msg->checkpoint_proof));
  uint32_t certs = 0;
  PL_RETURN_IF_ERROR(r.ReadU32(&certs));
  if (certs > kMaxListCount || certs > r.remaining()) {
    return InvalidArgumentError("too many prepared certificates");
  }
  msg->prepared.resize(certs);
  for (PreparedCert& c : msg->prepared) {
    PL_RETURN_IF_ERROR(ReadNested(&r, depth + 1, ConsensusMsg::kPrePrepare, &c.pre_prepare));
    PL_RETURN_IF_ERROR(ReadList(&r, depth + 1, ConsensusMsg::kPrepare, &c.prepares));
  }
  PL_RETURN_IF_ERROR(ReadList(&r, depth + 1, ConsensusMsg::kViewChange, &msg->view_changes));
  PL_RETURN_IF_ERROR(ReadList(&r, depth + 1, ConsensusMsg::kPrePrepare, &msg->pre_prepares));
  PL_RETURN_IF_ERROR(r.ReadLp(&msg->signature, kMaxSignatureBytes));
  if (!r.done()) return InvalidArgumentError("trailing bytes after consensus message");
  return CheckShape(*msg);
}

}  // namespace

const char* TypeName(ConsensusMsg::Type type) {
  switch (type) {
    case ConsensusMsg::kPrePrepare:
      return "pre-prepare";
    case ConsensusMsg::kPrepare:
      return "prepare";
    case ConsensusMsg::kCommit:
      return "commit";
    case ConsensusMsg::kCheckpoint:
      return "checkpoint";
    case ConsensusMsg::kViewChange:
      return "view-change";
    case ConsensusMsg::kNewView:
      return "new-view";
    case ConsensusMsg::kSuspect:
      return "suspect";
    default:
      return "unknown";
  }
}

Bytes SigningDigest(const std::string& chain_id, const ConsensusMsg& msg) {
  const char* tag = nullptr;
  switch (msg.type) {
    case ConsensusMsg::kCommit:
      return CommitDigest(chain_id, msg.height, msg.view, msg.digest);
    case ConsensusMsg::kPrePrepare:
      tag = kTagPrePrepare;
      break;
    case ConsensusMsg::kPrepare:
      tag = kTagPrepare;
      break;
    case ConsensusMsg::kCheckpoint:
      tag = kTagCheckpoint;
      break;
    case ConsensusMsg::kViewChange:
      tag = kTagViewChange;
      break;
    case ConsensusMsg::kNewView:
      tag = kTagNewView;
      break;
    case ConsensusMsg::kSuspect:
      tag = kTagSuspect;
      break;
    default:
      tag = "pl/v1/pbft/unknown";
      break;
  }
  Sha256Hasher h;
  h.Update(tag);
  Bytes chain;
  AppendLp(&chain, chain_id);
  h.Update(chain);
  // EncodeBody(msg), in its three parts: the block is hashed in place, not copied.
  h.Update(EncodeHead(msg));
  h.Update(msg.block);
  h.Update(EncodeTail(msg));
  return h.Finish();
}

Bytes Encode(const ConsensusMsg& msg) {
  Bytes out = EncodeBody(msg, 4 + msg.signature.size());
  AppendLp(&out, msg.signature);
  return out;
}

Status Decode(ByteView data, ConsensusMsg* msg) { return DecodeAt(data, 0, msg); }

}  // namespace consensus
}  // namespace provledger
