#include "mqtt-bridge/integrity_state.h"

#include "ledger/record.h"

namespace provledger::bridge {

IntegrityState IntegrityTracker::State(const std::string& device) const {
  auto it = devices_.find(device);
  if (it == devices_.end()) return IntegrityState();
  return IntegrityState{it->second.status, it->second.attestation};
}

uint64_t IntegrityTracker::AppraisedCount(const std::string& device,
                                          const std::string& boot) const {
  const DeviceIntegrity* d = Find(device);
  if (d == nullptr) return 0;
  for (const auto& [b, count] : d->boots) {
    if (b == boot) return count;
  }
  return 0;
}

const DeviceIntegrity* IntegrityTracker::Find(const std::string& device) const {
  auto it = devices_.find(device);
  return it == devices_.end() ? nullptr : &it->second;
}

void IntegrityTracker::Record(const std::string& device, const std::string& boot, uint64_t count,
                              IntegrityStatus status, const Bytes& attestation, uint64_t seq) {
  auto it = devices_.find(device);
  if (before_.count(device) == 0) {
    before_[device] = it == devices_.end() ? std::nullopt : std::optional(it->second);
  }
  DeviceIntegrity& d = devices_[device];
  d.status = status;
  d.attestation = attestation;
  d.seq = seq;
  for (auto b = d.boots.begin(); b != d.boots.end(); ++b) {
    if (b->first == boot) {
      d.boots.erase(b);
      break;
    }
  }
  d.boots.emplace_back(boot, count);
  if (d.boots.size() > kMaxBoots) d.boots.erase(d.boots.begin());
}

std::vector<std::pair<Bytes, Bytes>> IntegrityTracker::Dirty() const {
  std::vector<std::pair<Bytes, Bytes>> out;
  for (const auto& [device, unused] : before_) {
    auto it = devices_.find(device);
    if (it != devices_.end()) out.emplace_back(device, Encode(it->second));
  }
  return out;
}

void IntegrityTracker::Commit() { before_.clear(); }

void IntegrityTracker::Rollback() {
  for (auto& [device, old] : before_) {
    if (old) {
      devices_[device] = std::move(*old);
    } else {
      devices_.erase(device);
    }
  }
  before_.clear();
}

Status IntegrityTracker::Restore(const Bytes& key, const Bytes& value) {
  auto d = Decode(value);
  if (!d.ok()) return DataLossError("integrity state of " + key + ": " + d.status().message());
  devices_[key] = std::move(*d);
  return OkStatus();
}

// u8(version 1) || u8(status) || lp(attestation) || u64(seq) || u32(boots) ||
// boots x (lp(boot) || u64(count)).
Bytes IntegrityTracker::Encode(const DeviceIntegrity& d) {
  Bytes out;
  AppendU8(&out, 1);
  AppendU8(&out, static_cast<uint8_t>(d.status));
  AppendLp(&out, d.attestation);
  AppendU64(&out, d.seq);
  AppendU32(&out, static_cast<uint32_t>(d.boots.size()));
  for (const auto& [boot, count] : d.boots) {
    AppendLp(&out, boot);
    AppendU64(&out, count);
  }
  return out;
}

StatusOr<DeviceIntegrity> IntegrityTracker::Decode(ByteView value) {
  ByteReader r(value);
  DeviceIntegrity d;
  uint8_t version = 0, status = 0;
  uint32_t boots = 0;
  PL_RETURN_IF_ERROR(r.ReadU8(&version));
  if (version != 1) return InvalidArgumentError("unknown integrity state version");
  PL_RETURN_IF_ERROR(r.ReadU8(&status));
  if (status > 2) return InvalidArgumentError("integrity status out of range");
  d.status = static_cast<IntegrityStatus>(status);
  PL_RETURN_IF_ERROR(r.ReadLp(&d.attestation, 32));
  if ((d.attestation.empty()) != (d.status == IntegrityStatus::kUnknown) ||
      (!d.attestation.empty() && d.attestation.size() != 32)) {
    return InvalidArgumentError("attestation id does not fit the status");
  }
  PL_RETURN_IF_ERROR(r.ReadU64(&d.seq));
  PL_RETURN_IF_ERROR(r.ReadU32(&boots));
  if (boots > kMaxBoots) return InvalidArgumentError("too many boots");
  for (uint32_t i = 0; i < boots; ++i) {
    Bytes boot;
    uint64_t count = 0;
    PL_RETURN_IF_ERROR(r.ReadLp(&boot, 64));
    PL_RETURN_IF_ERROR(r.ReadU64(&count));
    d.boots.emplace_back(std::move(boot), count);
  }
  if (!r.done()) return InvalidArgumentError("trailing bytes");
  return d;
}

}  // namespace provledger::bridge
