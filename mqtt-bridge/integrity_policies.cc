#include "mqtt-bridge/integrity_policies.h"

#include "common/log.h"
#include "common/refresher.h"

namespace provledger::bridge {

LedgerPolicyDirectory::LedgerPolicyDirectory(client::LedgerClient* client, uint32_t refresh_ms)
    : client_(client), refresh_ms_(refresh_ms) {}

LedgerPolicyDirectory::~LedgerPolicyDirectory() { refresher_.reset(); }

Status LedgerPolicyDirectory::Refresh() {
  PL_ASSIGN_OR_RETURN(provledger::v1::PolicyListing summary, client_->Policies("", true));
  PL_ASSIGN_OR_RETURN(provledger::v1::RegistryListing devices, client_->Devices(""));
  std::map<std::string, std::shared_ptr<const CompiledPolicy>> current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = policies_;
  }
  std::map<std::string, std::shared_ptr<const CompiledPolicy>> next;
  for (const auto& p : summary.policies()) {
    auto it = current.find(p.name());
    if (it != current.end() && it->second->version() == p.version()) {
      next[p.name()] = it->second;
      continue;
    }
    // Fetched outside the lock: a large policy is a long read.
    auto full = client_->Policies(p.name(), false);
    if (!full.ok() || full->policies_size() != 1) {
      if (it != current.end()) next[p.name()] = it->second;  // keep the last one we had
      LogWarn("policy_fetch_failed")
          .Kv("policy", p.name())
          .Kv("err", full.ok() ? "no policy in the answer" : full.status().ToString());
      continue;
    }
    auto compiled = CompiledPolicy::Compile(full->policies(0));
    if (!compiled.ok()) {
      LogError("policy_unusable").Kv("policy", p.name()).Kv("err", compiled.status().ToString());
      continue;
    }
    LogInfo("policy_loaded")
        .Kv("policy", p.name())
        .Kv("version", (*compiled)->version())
        .Kv("paths", full->policies(0).digests_size())
        .Kv("excludes", full->policies(0).excludes_size());
    next[p.name()] = std::move(*compiled);
  }
  std::map<std::string, std::string> by_device, by_model, models;
  for (const auto& b : summary.bindings()) {
    if (!b.device().empty()) by_device[b.device()] = b.policy();
    if (!b.model().empty()) by_model[b.model()] = b.policy();
  }
  for (const auto& d : devices.devices()) {
    if (!d.model().empty()) models[d.id()] = d.model();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (by_device != device_policy_ || by_model != model_policy_) {
    LogInfo("policy_bindings").Kv("devices", by_device.size()).Kv("models", by_model.size());
  }
  policies_.swap(next);
  device_policy_.swap(by_device);
  model_policy_.swap(by_model);
  device_model_.swap(models);
  loaded_.store(true);
  return OkStatus();
}

void LedgerPolicyDirectory::StartRefresher() {
  refresher_ = ::provledger::StartRefresher("policy", refresh_ms_, /*at_once=*/false,
                                            [this] { return Refresh(); });
}

std::shared_ptr<const CompiledPolicy> LedgerPolicyDirectory::PolicyFor(
    const std::string& device) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name;
  auto d = device_policy_.find(device);
  if (d != device_policy_.end()) {
    name = d->second;
  } else {
    auto m = device_model_.find(device);
    if (m == device_model_.end()) return nullptr;
    auto b = model_policy_.find(m->second);
    if (b == model_policy_.end()) return nullptr;
    name = b->second;
  }
  auto p = policies_.find(name);
  return p == policies_.end() ? nullptr : p->second;
}

}  // namespace provledger::bridge
