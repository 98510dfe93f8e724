// SimRunner: one device_sim run over ONE MQTT connection. It subscribes the answer topics,
// has a pool of publishing workers each own a slice of the devices (key agreement,
// readings, resends after `no_session`), feeds every answer into one AckTracker, and
// waits until every reading is answered or --ack_timeout_ms passes after the last publish.
//
// Threads (all owned by Run()): the MQTT client's callback copies answers into a bounded queue; one
// answer worker parses them, updates the tracker and posts key replies and resend requests
// to the owning publisher's inbox; publisher workers own their devices' state. The tracker
// is the one shared object, guarded by a mutex never held across I/O.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_SIM_RUNNER_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_SIM_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/signer.h"
#include "common/status.h"
#include "tools/device_sim/ack_tracker.h"
#include "tools/device_sim/reading_builder.h"
#include "tools/device_sim/sim_options.h"

namespace provledger::device_sim {

class SimRunner {
 public:
  // `keys[i]` is the static key of options.DeviceName(i) (unused with --replay_from, whose
  // messages come in `replay`). `options` must be valid.
  SimRunner(SimOptions options, std::vector<PrivateKey> keys, std::vector<SentMessage> replay);
  // As above, `keys[i]` signing for options.DeviceName(i) (a key in a token, say).
  SimRunner(SimOptions options, std::vector<std::unique_ptr<Signer>> keys,
            std::vector<SentMessage> replay);
  ~SimRunner();
  SimRunner(const SimRunner&) = delete;
  SimRunner& operator=(const SimRunner&) = delete;

  // Runs every phase and returns the summary (its `ok` decides the exit code).
  // kUnavailable when the broker cannot be reached or a subscription fails; kInternal when
  // --replay_file cannot be written.
  StatusOr<Summary> Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a --replay_from file (one SentMessageJson per line). kNotFound if missing;
// kInvalidArgument naming the line that does not parse.
StatusOr<std::vector<SentMessage>> ReadReplayFile(const std::string& path);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_SIM_RUNNER_H_
