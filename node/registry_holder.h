// RegistryHolder: the current registry snapshot, swapped whole by the consensus thread and
// read by every gRPC thread. Thread rules: all methods are thread-safe.
#ifndef PROVLEDGER_NODE_REGISTRY_HOLDER_H_
#define PROVLEDGER_NODE_REGISTRY_HOLDER_H_

#include <memory>
#include <mutex>
#include <utility>

#include "ledger/registry.h"

namespace provledger::node {

class RegistryHolder {
 public:
  explicit RegistryHolder(std::shared_ptr<const ledger::RegistrySnapshot> s)
      : snap_(std::move(s)) {}
  std::shared_ptr<const ledger::RegistrySnapshot> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snap_;
  }
  void Set(std::shared_ptr<const ledger::RegistrySnapshot> s) {
    std::lock_guard<std::mutex> lock(mu_);
    snap_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ledger::RegistrySnapshot> snap_;  // guarded by mu_
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_REGISTRY_HOLDER_H_
