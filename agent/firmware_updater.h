// FirmwareUpdater: the device side of PROTOCOL.md section 8. Given one payload received on
// devices/{device}/update/code (retained, so the same manifest may come again after every
// reconnect), it checks the manifest, fetches and checks the image, runs the install command
// and says what to report on devices/{device}/update/status.
//
// Checks, in this order, all before anything runs:
//   1. the payload is a manifest (section 8's strict shape), else nothing is reported;
//   2. its vendor is one whose key the device holds, and the signature verifies;
//   3. its model is the device's own;
//   4. its counter is above the installed one (no rollback; equal is refused too);
//   5. its location is a local absolute path or a file:// URL (others are refused), and the
//      image there is exactly `size` bytes hashing to `sha256`. The image is streamed (never
//      read whole) into a staging file in state_dir as it is hashed, and the install command
//      gets that staged copy, so the file checked is the file installed.
// Then the install command runs (fork/exec, no shell) with the staged image's path as its
// one argument, stdout sent to stderr; exit status 0 within install_timeout_ms means
// installed, anything else refused (the command is killed at the timeout).
//
// State (state_dir/firmware_state.json, written atomically, mode 0600): the installed
// vendor, version and counter, and the digests of the last manifests handled. A manifest is
// handled once it was installed or refused for good; a refusal that may pass later (the
// image cannot be read yet, the command cannot be started) is reported but not remembered,
// so the manifest's next delivery tries again. A crash after the install command succeeded
// and before the state was written installs the same manifest again on its next delivery.
//
// Thread rules: not thread-safe; one thread calls OnManifest at a time.
#ifndef PROVLEDGER_AGENT_FIRMWARE_UPDATER_H_
#define PROVLEDGER_AGENT_FIRMWARE_UPDATER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "device_protocol/device_message.h"
#include "device_protocol/firmware_manifest.h"

namespace provledger::agent {

struct FirmwareOptions {
  std::string device, model;                 // names (PROTOCOL.md section 2)
  std::map<std::string, Bytes> vendor_keys;  // vendor id -> 33-byte pubkey
  std::string state_dir;                     // created (mode 0700) if missing
  // An executable, run with the image path as its one argument, after every check passed.
  std::string install_command;
  uint32_t install_timeout_ms = 300000;  // the command is killed and the install refused after
};

// What the updater keeps across restarts.
struct FirmwareState {
  std::string vendor, version;  // of the installed firmware; empty before the first install
  uint64_t counter = 0;         // installed counter; 0 before the first install
};

class FirmwareUpdater {
 public:
  // Validates `o` (names, keys, an executable install command), creates state_dir and reads
  // its state. kInvalidArgument naming the bad option; kDataLoss for a state file that does
  // not parse; kInternal for I/O errors.
  static StatusOr<std::unique_ptr<FirmwareUpdater>> Open(FirmwareOptions o);

  // One update/code payload: nullopt when this manifest was already handled (or the payload
  // is no manifest at all: nothing could be reported about it, it is logged), else the
  // section 8 install report to publish. The state is durable before it returns.
  std::optional<device_protocol::InstallReport> OnManifest(ByteView payload);

  // The installed firmware as last saved (or as OnManifest left it when saving failed).
  const FirmwareState& state() const { return state_; }

  // Only Open makes one (Token cannot be named outside the class).
  class Token {
    friend class FirmwareUpdater;
    explicit Token() = default;
  };
  FirmwareUpdater(Token, FirmwareOptions o) : options_(std::move(o)) {}

 private:
  // A refusal: `permanent` ones are remembered as handled.
  struct Outcome {
    bool installed = false;
    bool permanent = true;
    std::string reason;
  };
  Outcome Check(const device_protocol::FirmwareManifest& m) const;
  // Streams the image at `m.location` into `staged`, checking size and hash.
  Outcome Stage(const device_protocol::FirmwareManifest& m, const std::string& staged) const;
  Outcome Install(const std::string& staged) const;
  Status Save() const;
  Status Load();

  FirmwareOptions options_;
  FirmwareState state_;
  std::deque<Bytes> handled_;  // SHA-256 of handled payloads, newest last, bounded
};

// The local path a manifest location names: an absolute path as is, or a file:// URL
// (file:///p or file://localhost/p, %XX decoded). kInvalidArgument naming the location's
// scheme for anything else.
StatusOr<std::string> LocalImagePath(const std::string& location);

// The vendor keys of --vendor_key values ("VENDOR:HEX", HEX 66 hex digits of a public key;
// the flag's comma lists already split), for every program that runs the updater. A vendor
// named twice keeps the last key. kInvalidArgument naming the value at fault.
StatusOr<std::map<std::string, Bytes>> ParseVendorKeys(const std::vector<std::string>& values);

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_FIRMWARE_UPDATER_H_
