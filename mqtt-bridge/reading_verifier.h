// ReadingVerifier decides, for each message a device publishes, whether the bridge takes
// it in, running PROTOCOL.md section 3's checks in order and answering the first failure
// only: too_large, malformed, unregistered, no_session, bad_auth, quarantined, stale,
// replay. It covers readings, integrity reports and install reports (which share the
// section 5 header) and key requests (through SessionKeyStore).
//
// It does no I/O: the clock is passed in, randomness injected, and the answers are
// returned as (topic, JSON) for the caller to publish. It owns the per-device replay
// windows; an accepted message's seq is marked in its device's window before Verify
// returns, and the caller persists replay_window(device) with the message (outbox).
// It borrows the directories and the session store, which must outlive it.
//
// Events: each refusal (`message_refused`, warn) and each session agreement
// (`session_agreed`, info) goes to the injected sink once, as a structured VerifierEvent
// (name, level, key/values) for the caller to log at that level under that name; at most
// `max_log_lines_per_second` events. Values carry names, codes and seqs, never keys or
// payloads.
//
// Thread rules: not thread-safe. Owned by the bridge's verify thread, which also owns
// the borrowed SessionKeyStore; the directories must answer from memory.
#ifndef PROVLEDGER_MQTT_BRIDGE_READING_VERIFIER_H_
#define PROVLEDGER_MQTT_BRIDGE_READING_VERIFIER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/log.h"
#include "common/status.h"
#include "device_protocol/answers.h"
#include "device_protocol/device_message.h"
#include "device_protocol/error_codes.h"
#include "device_protocol/integrity_report.h"
#include "device_protocol/topics.h"
#include "mqtt-bridge/device_directory.h"
#include "mqtt-bridge/replay_window.h"
#include "mqtt-bridge/session_key_store.h"

namespace provledger {
namespace bridge {

struct ReadingVerifierOptions {
  // The topic prefix devices are provisioned with (answers are built under it).
  std::string topic_prefix = std::string(device_protocol::kDefaultTopicPrefix);
  // A payload above this is `too_large`; exactly this many bytes is accepted.
  size_t max_payload_bytes = 1048576;
  // |pl-ts - bridge clock| above this is `stale`. Keep equal to SessionKeyOptions's.
  uint64_t clock_window_ms = 300000;
  // Replay window width W per device. Wider tolerates more disorder, costs W/8 bytes
  // per device in memory and in every outbox entry.
  uint32_t replay_window = ReplayWindow::kDefaultWidth;
  // Refuse readings and install reports of `untrusted` devices with `quarantined`.
  bool quarantine = true;
  // Refusal log lines per second of the injected clock; more are counted, not logged.
  uint32_t max_log_lines_per_second = 10;
  // kInvalidArgument for a bad prefix, a zero limit/window or a width outside 1..2^20.
  Status Validate() const;
};

// A message taken in: everything a record needs besides the gateway id and the payload.
struct Accepted {
  std::string device;
  device_protocol::TopicKind kind = device_protocol::TopicKind::kData;
  std::string item;  // the item in D ("_integrity", "_update" for reports)
  uint64_t seq = 0;
  uint64_t ts = 0;
  Bytes payload_hash;  // SHA256(payload), 32
  device_protocol::AuthMode auth = device_protocol::AuthMode::kMac;
  Bytes kid;                 // kMac: the session's kid (8)
  Bytes mac;                 // kMac: pl-mac (32)
  Bytes sig;                 // kSignature: pl-sig (64)
  uint64_t received = 0;     // the bridge clock when verified
  IntegrityState integrity;  // the device's status when accepted
  // kIntegrity: the report as parsed while checking its shape (so it is parsed once).
  std::shared_ptr<const device_protocol::IntegrityReport> report;
};

// A message refused: answer `answer_json` on `answer_topic`.
struct Refusal {
  device_protocol::DeviceError error = device_protocol::DeviceError::kInternal;
  std::string reason;
  std::string answer_topic;
  std::string answer_json;
};

// A key agreed: answer `answer_json` (the key reply) on `answer_topic` (key/success).
struct KeyAccepted {
  device_protocol::KeyReply reply;
  std::string answer_topic;
  std::string answer_json;
};

// One thing the verifier reports: logged once, at `level`, as `ev=<name>` then `fields`
// in order (no `ts`, `lvl`, `comp` or `ev` among them: the logger adds those).
struct VerifierEvent {
  LogLevel level = LogLevel::kInfo;
  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;
  // The value of field `key`, or nullptr.
  const std::string* Find(std::string_view key) const;
};

using EventSink = std::function<void(const VerifierEvent& event)>;

class ReadingVerifier {
 public:
  // `devices`, `integrity` and `sessions` are borrowed and must outlive the verifier;
  // `options` must be valid. `events` may be empty (nothing reported).
  ReadingVerifier(ReadingVerifierOptions options, const DeviceDirectory* devices,
                  const IntegrityDirectory* integrity, SessionKeyStore* sessions,
                  EventSink events = nullptr);

  // Verifies a reading (kData), integrity report (kIntegrity) or install report
  // (kUpdateStatus) published to `topic` (parsed with ParseDeviceTopic) at bridge time
  // now_ms. An install report whose payload is not section 8's (ParseInstallReport), and an
  // integrity report that is not section 7's (ParseIntegrityReport), are `malformed`. Accepted
  // marks its seq in the device's replay window. A refusal changes nothing and names its answer.
  // kKey topics are refused `internal` (use HandleKeyRequest).
  std::variant<Accepted, Refusal> Verify(const device_protocol::DeviceTopic& topic,
                                         const device_protocol::UserProperties& props,
                                         ByteView payload, uint64_t now_ms);

  // Handles a key request from `device` (a valid name from the topic): too_large, then
  // SessionKeyStore::HandleKeyRequest with the device's registered key.
  std::variant<KeyAccepted, Refusal> HandleKeyRequest(const std::string& device, ByteView payload,
                                                      uint64_t now_ms,
                                                      const device_protocol::RandomSource& random);

  // The device's replay window, nullptr when nothing of it was accepted or restored.
  const ReplayWindow* replay_window(const std::string& device) const;
  // Installs a persisted window for `device` (at start-up, from the outbox). kInvalidArgument
  // when its width differs from options().replay_window (window unchanged).
  Status RestoreReplayWindow(const std::string& device, ReplayWindow window);

  // Refusals counted per error, indexed by DeviceError.
  uint64_t refusal_count(device_protocol::DeviceError error) const;
  uint64_t accepted_count() const { return accepted_count_; }

  const ReadingVerifierOptions& options() const { return options_; }

 private:
  Refusal Refuse(const device_protocol::DeviceTopic& topic, device_protocol::DeviceError error,
                 std::string reason, std::optional<uint64_t> seq, std::optional<Bytes> nonce,
                 uint64_t now_ms);
  void Report(VerifierEvent event, uint64_t now_ms);

  ReadingVerifierOptions options_;
  const DeviceDirectory* devices_;
  const IntegrityDirectory* integrity_;
  SessionKeyStore* sessions_;
  EventSink events_;
  std::map<std::string, ReplayWindow> windows_;
  std::array<uint64_t, 9> refusals_{};
  uint64_t accepted_count_ = 0;
  uint64_t log_second_ = 0;
  uint32_t log_lines_this_second_ = 0;
};

}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_MQTT_BRIDGE_READING_VERIFIER_H_
