// Which runtime policy appraises a device's reports: the policy bound to the device, else
// the one bound to its model (registry, docs/INTEGRITY.md). LedgerPolicyDirectory reads the
// policies and bindings from a ledger node and refreshes them in the background (a new
// policy version or binding takes effect within one refresh interval); a policy is fetched
// and compiled again only when its version changes.
//
// Thread rules: PolicyFor() from any thread; Refresh() from one thread at a time (the
// refresher, or the owner before StartRefresher).
#ifndef PROVLEDGER_MQTT_BRIDGE_INTEGRITY_POLICIES_H_
#define PROVLEDGER_MQTT_BRIDGE_INTEGRITY_POLICIES_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/ledger_client.h"
#include "common/worker.h"
#include "mqtt-bridge/integrity_appraiser.h"

namespace provledger::bridge {

class PolicySource {
 public:
  virtual ~PolicySource() = default;
  // The policy that appraises `device`'s reports now; nullptr when none is bound.
  virtual std::shared_ptr<const CompiledPolicy> PolicyFor(const std::string& device) const = 0;
  // False until the policies and bindings were read once: a report appraised before would
  // be untrusted for want of a policy, so the bridge answers it `internal` (send again).
  virtual bool loaded() const = 0;
};

class LedgerPolicyDirectory final : public PolicySource {
 public:
  // `client` must outlive the directory.
  LedgerPolicyDirectory(client::LedgerClient* client, uint32_t refresh_ms);
  ~LedgerPolicyDirectory() override;

  // Reads bindings, device models and changed policies now. kUnavailable if no node
  // answers; a policy that does not compile is logged and left out (its devices get none).
  Status Refresh();
  void StartRefresher();

  std::shared_ptr<const CompiledPolicy> PolicyFor(const std::string& device) const override;
  bool loaded() const override { return loaded_.load(); }

 private:
  client::LedgerClient* client_;
  uint32_t refresh_ms_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const CompiledPolicy>> policies_;  // guarded by mu_
  std::map<std::string, std::string> device_policy_;  // guarded by mu_: device -> policy
  std::map<std::string, std::string> model_policy_;   // guarded by mu_: model -> policy
  std::map<std::string, std::string> device_model_;   // guarded by mu_
  std::atomic<bool> loaded_{false};
  std::unique_ptr<Worker> refresher_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_INTEGRITY_POLICIES_H_
