// Device static keys for device_sim: kept on disk (one <device>.key per device, mode 0600)
// and registered on the ledger with admin-signed registry transactions.
//
// Thread rules: free functions; call from main before the run starts.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_KEYS_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_KEYS_H_

#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/status.h"

namespace provledger::device_sim {

// Reads <keys_dir>/<device>.key, or makes a new key and writes it there (mode 0600),
// creating keys_dir (mode 0700) if needed. Errors of ReadKeyFile/WriteKeyFile otherwise
// (kPermissionDenied for a key file others may read).
StatusOr<PrivateKey> LoadOrCreateDeviceKey(const std::string& keys_dir, const std::string& device);

struct RegistrationReport {
  size_t registered = 0;  // submitted and committed now
  size_t skipped = 0;     // already registered with the same key
};

// Registers each (device, pubkey) on the ledger at `nodes`, signed with the admin key in
// `admin_key_path` for the chain of `genesis_path`, skipping devices already registered
// with the same key (a revoked device is registered again). kFailedPrecondition, before
// anything is submitted, for a device registered with another key; node errors as
// LedgerClient returns them.
StatusOr<RegistrationReport> RegisterDevices(
    const std::vector<std::string>& nodes, const std::string& genesis_path,
    const std::string& admin_key_path, const std::vector<std::pair<std::string, Bytes>>& devices);

// The registered public key of gateway `gateway_id`, read from the ledger at `nodes`.
// kNotFound when the gateway is not registered.
StatusOr<Bytes> LookupGatewayKey(const std::vector<std::string>& nodes,
                                 const std::string& gateway_id);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_KEYS_H_
