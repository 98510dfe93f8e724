// IntegrityAgent: the agent's run loop (docs/AGENT.md). It reads new measurements (the
// kernel's IMA list, or its own list of watched files it measures), sends them as one
// incremental report at a time through the ReportPusher, and moves its durable position
// once the bridge answered. With firmware on, a FirmwareChannel worker installs manifests
// from update/code and reports them on update/status under the pusher's seq and session.
// Messages from the broker arrive in one TopicRouter.
//
// Thread rules: Run on one thread; the `stop` flag it polls may be set from any thread or a
// signal handler.
#ifndef PROVLEDGER_AGENT_INTEGRITY_AGENT_H_
#define PROVLEDGER_AGENT_INTEGRITY_AGENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/firmware_updater.h"
#include "agent/report_pusher.h"
#include "common/mqtt_client.h"
#include "common/signer.h"
#include "common/status.h"

namespace provledger::agent {

enum class Source { kIma, kFiles };

struct AgentOptions {
  std::string broker = "tcp://127.0.0.1:1883";
  MqttSecurity broker_security;  // TLS files, username and password for the broker
  std::string client_id;         // empty: "pl-agent-<device>"
  PusherOptions pusher;          // device, prefix, auth mode, gateway trust, timeouts
  Source source = Source::kIma;
  std::string ima_list = "/sys/kernel/security/ima/ascii_runtime_measurements";
  std::string boot_id_path = "/proc/sys/kernel/random/boot_id";
  std::vector<std::string> watch;  // --source=files
  std::string hash = "sha256";     // --source=files: sha256 or sm3
  std::string state_dir = "/var/lib/provledger-agent";
  size_t batch = 500;                    // entries per report at most
  size_t max_report_bytes = 256 * 1024;  // and report JSON bytes at most (one entry always)
  bool once = false;                     // send what is new, wait for its verdicts, exit
  uint64_t once_timeout_ms = 120000;
  uint32_t poll_ms = 2000;  // re-read the IMA list this often (securityfs has no inotify)
  // Firmware updates (section 8): manifests on update/code, install reports on update/status.
  // firmware_options' device and state_dir are the agent's (pusher.device, state_dir).
  bool firmware = false;
  FirmwareOptions firmware_options;  // model, vendor_keys, install_command, install timeout

  // kInvalidArgument naming the flag at fault.
  Status Validate() const;
};

// How Run ended, for the exit code.
enum class RunEnd { kDone, kStopped };

class IntegrityAgent {
 public:
  // `signer` holds the device key (a key file's LocalSigner, or a PKCS#11 token).
  IntegrityAgent(AgentOptions options, std::unique_ptr<Signer> signer)
      : o_(std::move(options)), signer_(std::move(signer)) {}

  // Runs until `stop` turns true (daemon) or until everything new is answered (--once).
  // kPermissionDenied for a permanent refusal of the device (bad_auth, wrong gateway);
  // kDeadlineExceeded when --once could not finish in once_timeout_ms; kDataLoss when the
  // list no longer matches the stored position; setup and I/O errors otherwise.
  StatusOr<RunEnd> Run(const std::atomic<bool>& stop);

 private:
  AgentOptions o_;
  std::unique_ptr<Signer> signer_;
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_INTEGRITY_AGENT_H_
