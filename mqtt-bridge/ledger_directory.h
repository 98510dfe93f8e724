// LedgerDeviceDirectory: the registry's devices as the bridge sees them, read from a ledger
// node and refreshed in the background, so registrations and revocations take effect
// without a restart (within one refresh interval).
//
// Thread rules: PublicKey() from any thread; the refresher is its own Worker.
#ifndef PROVLEDGER_MQTT_BRIDGE_LEDGER_DIRECTORY_H_
#define PROVLEDGER_MQTT_BRIDGE_LEDGER_DIRECTORY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/ledger_client.h"
#include "common/worker.h"
#include "mqtt-bridge/device_directory.h"

namespace provledger::bridge {

class LedgerDeviceDirectory final : public DeviceDirectory {
 public:
  // `client` must outlive the directory. Call Refresh() once before use.
  LedgerDeviceDirectory(client::LedgerClient* client, uint32_t refresh_ms);
  ~LedgerDeviceDirectory() override;

  // Reads the device list from the ledger now. kUnavailable if no node answers.
  Status Refresh();
  // Starts the background refresher.
  void StartRefresher();

  // The registered, unrevoked key of `device`, or nullopt. A device not in the last
  // listing is looked up on the ledger at once (a new registration works immediately);
  // misses are remembered for a second and lookups are capped at 20/s, so a flood of
  // unknown device ids cannot stall the caller.
  std::optional<Bytes> PublicKey(const std::string& device) const override;
  size_t size() const;

 private:
  client::LedgerClient* client_;
  uint32_t refresh_ms_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Bytes> keys_;       // guarded by mu_; a lookup on a miss adds
  mutable std::map<std::string, uint64_t> misses_;  // guarded by mu_: device -> time of miss
  mutable uint64_t lookup_window_start_ = 0;        // guarded by mu_
  mutable int lookups_in_window_ = 0;               // guarded by mu_
  std::unique_ptr<Worker> refresher_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_LEDGER_DIRECTORY_H_
