#include "mqtt-bridge/ledger_directory.h"

#include "common/log.h"
#include "common/refresher.h"

namespace provledger::bridge {

LedgerDeviceDirectory::LedgerDeviceDirectory(client::LedgerClient* client, uint32_t refresh_ms)
    : client_(client), refresh_ms_(refresh_ms) {}

LedgerDeviceDirectory::~LedgerDeviceDirectory() { refresher_.reset(); }

Status LedgerDeviceDirectory::Refresh() {
  auto listing = client_->Devices("");
  if (!listing.ok()) return listing.status();
  std::map<std::string, Bytes> keys;
  for (const auto& d : listing->devices()) {
    if (!d.revoked()) keys[d.id()] = d.pubkey();
  }
  std::lock_guard<std::mutex> lock(mu_);
  keys_.swap(keys);
  return OkStatus();
}

void LedgerDeviceDirectory::StartRefresher() {
  refresher_ = ::provledger::StartRefresher("registry", refresh_ms_, /*at_once=*/false,
                                            [this] { return Refresh(); });
}

std::optional<Bytes> LedgerDeviceDirectory::PublicKey(const std::string& device) const {
  const uint64_t now = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(device);
    if (it != keys_.end()) return it->second;
    auto miss = misses_.find(device);
    if (miss != misses_.end() && now - miss->second < 1000) return std::nullopt;
    if (now - lookup_window_start_ >= 1000) {
      lookup_window_start_ = now;
      lookups_in_window_ = 0;
    }
    if (++lookups_in_window_ > 20) return std::nullopt;
    if (misses_.size() > 100000) misses_.clear();  // bounded memory
  }
  // Not under the lock: the lookup is a network call.
  auto listing = client_->FindDeviceOnAnyNode(device);
  std::lock_guard<std::mutex> lock(mu_);
  if (listing.ok() && listing->devices_size() == 1 && !listing->devices(0).revoked() &&
      listing->devices(0).id() == device) {
    keys_[device] = listing->devices(0).pubkey();
    misses_.erase(device);
    return listing->devices(0).pubkey();
  }
  misses_[device] = now;
  return std::nullopt;
}

size_t LedgerDeviceDirectory::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

}  // namespace provledger::bridge
