#include "tools/device_sim/device_keys.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "client/ledger_client.h"
#include "client/transport_security.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "proto/ledger.pb.h"

namespace provledger::device_sim {

namespace {

constexpr size_t kRegisterThreads = 8;

Status MakeDirs(const std::string& dir) {
  std::string path;
  size_t start = 0;
  while (start <= dir.size()) {
    size_t end = dir.find('/', start);
    if (end == std::string::npos) end = dir.size();
    path = dir.substr(0, end);
    if (!path.empty() && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return InternalError("mkdir " + path + ": " + std::strerror(errno));
    }
    start = end + 1;
  }
  return OkStatus();
}

}  // namespace

StatusOr<PrivateKey> LoadOrCreateDeviceKey(const std::string& keys_dir, const std::string& device) {
  const std::string path = keys_dir + "/" + device + ".key";
  StatusOr<PrivateKey> key = ReadKeyFile(path);
  if (key.ok() || key.status().code() != StatusCode::kNotFound) {
    return key.ok() ? key : StatusOr<PrivateKey>(key.status().Annotate(path));
  }
  PL_RETURN_IF_ERROR(MakeDirs(keys_dir));
  PrivateKey fresh = PrivateKey::Generate();
  Status written = WriteKeyFile(path, fresh);
  if (written.code() == StatusCode::kAlreadyExists) return ReadKeyFile(path);  // a racing run
  PL_RETURN_IF_ERROR(written.Annotate(path));
  return fresh;
}

StatusOr<RegistrationReport> RegisterDevices(
    const std::vector<std::string>& nodes, const std::string& genesis_path,
    const std::string& admin_key_path, const std::vector<std::pair<std::string, Bytes>>& devices) {
  PL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::LoadGenesis(genesis_path));
  PL_ASSIGN_OR_RETURN(PrivateKey admin, ReadKeyFile(admin_key_path));
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("device_sim"));
  PL_ASSIGN_OR_RETURN(std::unique_ptr<client::LedgerClient> cl,
                      client::LedgerClient::Create(nodes));
  PL_ASSIGN_OR_RETURN(v1::RegistryListing listing, cl->Devices(""));
  std::map<std::string, const v1::DeviceInfo*> known;
  for (const v1::DeviceInfo& d : listing.devices()) known[d.id()] = &d;

  RegistrationReport report;
  std::vector<std::pair<std::string, Bytes>> todo;
  for (const auto& [id, pubkey] : devices) {
    auto it = known.find(id);
    if (it == known.end() || it->second->revoked()) {  // a revoked device registers anew
      todo.emplace_back(id, pubkey);
      continue;
    }
    if (it->second->pubkey() != pubkey) {
      return FailedPreconditionError("device " + id + " is registered with another key (" +
                                     ShortHex(it->second->pubkey()) + "), not " + ShortHex(pubkey) +
                                     " from the keys dir");
    }
    ++report.skipped;
  }

  // Submissions wait for their commit: a few at once share blocks.
  std::mutex mu;
  Status first_error;  // guarded by mu
  size_t next = 0;     // guarded by mu
  auto body = [&](Worker&) {
    while (true) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next >= todo.size() || !first_error.ok()) return;
        i = next++;
      }
      v1::RegistryOp op;
      op.set_chain_id(genesis.chain_id);
      op.set_nonce(NowMs());
      op.mutable_register_device()->set_id(todo[i].first);
      op.mutable_register_device()->set_pubkey(todo[i].second);
      Status s;
      StatusOr<Bytes> tx = ledger::SignRegistryTx(genesis.chain_id, op, admin.secret());
      if (!tx.ok()) {
        s = tx.status();
      } else {
        StatusOr<v1::SubmitResponse> resp = cl->SubmitRegistry(*tx);
        if (!resp.ok()) s = resp.status();
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) {
        first_error.Update(s.Annotate("register " + todo[i].first));
      } else {
        ++report.registered;
        LogInfo("device_registered").Kv("device", todo[i].first);
      }
    }
  };
  {
    std::vector<std::unique_ptr<Worker>> pool;
    for (size_t t = 0; t < std::min(kRegisterThreads, todo.size()); ++t) {
      pool.push_back(std::make_unique<Worker>("register-" + std::to_string(t), body));
    }
  }  // joined
  PL_RETURN_IF_ERROR(first_error);
  return report;
}

StatusOr<Bytes> LookupGatewayKey(const std::vector<std::string>& nodes,
                                 const std::string& gateway_id) {
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("device_sim"));
  PL_ASSIGN_OR_RETURN(std::unique_ptr<client::LedgerClient> cl,
                      client::LedgerClient::Create(nodes));
  PL_ASSIGN_OR_RETURN(v1::RegistryListing listing, cl->Gateways(gateway_id));
  for (const v1::GatewayInfo& g : listing.gateways()) {
    if (g.id() == gateway_id) return Bytes(g.pubkey());
  }
  return NotFoundError("gateway " + gateway_id + " is not registered");
}

}  // namespace provledger::device_sim
