#include "mqtt-bridge/reading_verifier.h"

#include <utility>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "device_protocol/account.h"
#include "device_protocol/integrity_report.h"

namespace provledger {
namespace bridge {
namespace {

uint64_t AbsDiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

const char* KindName(device_protocol::TopicKind kind) {
  switch (kind) {
    case device_protocol::TopicKind::kKey:
      return "key";
    case device_protocol::TopicKind::kData:
      return "data";
    case device_protocol::TopicKind::kIntegrity:
      return "integrity";
    case device_protocol::TopicKind::kUpdateStatus:
      return "update_status";
    case device_protocol::TopicKind::kAccount:
      return "account";
  }
  return "unknown";
}

}  // namespace

Status ReadingVerifierOptions::Validate() const {
  PL_RETURN_IF_ERROR(device_protocol::ValidateTopicPrefix(topic_prefix));
  if (max_payload_bytes == 0) return InvalidArgumentError("max_payload_bytes: must be > 0");
  if (clock_window_ms == 0) return InvalidArgumentError("clock_window_ms: must be > 0");
  if (replay_window == 0 || replay_window > ReplayWindow::kMaxWidth) {
    return InvalidArgumentError("replay_window: must be in 1 .. 2^20");
  }
  return OkStatus();
}

ReadingVerifier::ReadingVerifier(ReadingVerifierOptions options, const DeviceDirectory* devices,
                                 const IntegrityDirectory* integrity, SessionKeyStore* sessions,
                                 EventSink events)
    : options_(std::move(options)),
      devices_(devices),
      integrity_(integrity),
      sessions_(sessions),
      events_(std::move(events)) {}

const std::string* VerifierEvent::Find(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::variant<Accepted, Refusal> ReadingVerifier::Verify(
    const device_protocol::DeviceTopic& topic, const device_protocol::UserProperties& props,
    ByteView payload, uint64_t now_ms) {
  const std::optional<uint64_t> seq = device_protocol::FindParsableSeq(props);
  if (topic.kind == device_protocol::TopicKind::kKey) {
    return Refuse(topic, device_protocol::DeviceError::kInternal, "key request given to Verify",
                  seq, std::nullopt, now_ms);
  }
  // too_large
  if (payload.size() > options_.max_payload_bytes) {
    return Refuse(topic, device_protocol::DeviceError::kTooLarge,
                  "payload of " + std::to_string(payload.size()) + " bytes is above the limit " +
                      std::to_string(options_.max_payload_bytes),
                  seq, std::nullopt, now_ms);
  }
  // malformed
  if (topic.kind == device_protocol::TopicKind::kData &&
      (topic.item.empty() || topic.item[0] == '_')) {
    return Refuse(topic, device_protocol::DeviceError::kMalformed,
                  "item " + topic.item + " is reserved", seq, std::nullopt, now_ms);
  }
  StatusOr<device_protocol::DeviceHeader> parsed = device_protocol::ParseDeviceHeader(props);
  if (!parsed.ok()) {
    return Refuse(topic, device_protocol::DeviceError::kMalformed, parsed.status().message(), seq,
                  std::nullopt, now_ms);
  }
  const device_protocol::DeviceHeader& header = *parsed;
  if (topic.kind == device_protocol::TopicKind::kUpdateStatus) {
    // Section 8 fixes an install report's shape; nothing else of that topic is recorded.
    StatusOr<device_protocol::InstallReport> report = device_protocol::ParseInstallReport(payload);
    if (!report.ok()) {
      return Refuse(topic, device_protocol::DeviceError::kMalformed, report.status().message(), seq,
                    std::nullopt, now_ms);
    }
  }
  if (topic.kind == device_protocol::TopicKind::kAccount) {
    // docs/ACCOUNTS.md fixes an account's shape; it covers only messages sent before it.
    StatusOr<device_protocol::Account> account = device_protocol::ParseAccount(payload);
    if (!account.ok()) {
      return Refuse(topic, device_protocol::DeviceError::kMalformed, account.status().message(),
                    seq, std::nullopt, now_ms);
    }
    if (account->last() >= header.seq) {
      return Refuse(topic, device_protocol::DeviceError::kMalformed,
                    "account: \"last\" is not below the account's own pl-seq", seq, std::nullopt,
                    now_ms);
    }
  }
  std::shared_ptr<const device_protocol::IntegrityReport> integrity_report;
  if (topic.kind == device_protocol::TopicKind::kIntegrity) {
    // Section 7 fixes a report's shape; the pipeline appraises only reports that parse.
    StatusOr<device_protocol::IntegrityReport> report =
        device_protocol::ParseIntegrityReport(payload);
    if (!report.ok()) {
      return Refuse(topic, device_protocol::DeviceError::kMalformed, report.status().message(), seq,
                    std::nullopt, now_ms);
    }
    integrity_report =
        std::make_shared<const device_protocol::IntegrityReport>(std::move(report).value());
  }
  // unregistered
  std::optional<Bytes> pubkey = devices_ ? devices_->PublicKey(topic.device) : std::nullopt;
  if (!pubkey) {
    return Refuse(topic, device_protocol::DeviceError::kUnregistered, "device is not registered",
                  seq, std::nullopt, now_ms);
  }
  // no_session
  Bytes session_key;
  if (header.mode == device_protocol::AuthMode::kMac) {
    StatusOr<Bytes> key = sessions_ ? sessions_->Lookup(topic.device, header.kid, now_ms)
                                    : StatusOr<Bytes>(NotFoundError("no session store"));
    if (!key.ok()) {
      return Refuse(topic, device_protocol::DeviceError::kNoSession, key.status().message(), seq,
                    std::nullopt, now_ms);
    }
    session_key = std::move(key).value();
  }
  // bad_auth
  Bytes payload_hash = Sha256(payload);
  Bytes d =
      device_protocol::DataDigest(topic.device, topic.item, header.seq, header.ts, payload_hash);
  if (header.mode == device_protocol::AuthMode::kMac) {
    if (!ConstantTimeEqual(HmacSha256(session_key, d), header.mac)) {
      return Refuse(topic, device_protocol::DeviceError::kBadAuth, "pl-mac does not verify", seq,
                    std::nullopt, now_ms);
    }
  } else if (!VerifySignature(*pubkey, d, header.sig).ok()) {
    return Refuse(topic, device_protocol::DeviceError::kBadAuth, "pl-sig does not verify", seq,
                  std::nullopt, now_ms);
  }
  // quarantined (readings and install reports only: a quarantined device still accounts for
  // what it sent)
  IntegrityState integrity = integrity_ ? integrity_->State(topic.device) : IntegrityState{};
  if (options_.quarantine && topic.kind != device_protocol::TopicKind::kIntegrity &&
      topic.kind != device_protocol::TopicKind::kAccount &&
      integrity.status == IntegrityStatus::kUntrusted) {
    return Refuse(topic, device_protocol::DeviceError::kQuarantined,
                  "device integrity is untrusted", seq, std::nullopt, now_ms);
  }
  // stale
  if (AbsDiff(header.ts, now_ms) > options_.clock_window_ms) {
    return Refuse(
        topic, device_protocol::DeviceError::kStale,
        "pl-ts is " + std::to_string(AbsDiff(header.ts, now_ms)) + " ms from the bridge clock", seq,
        std::nullopt, now_ms);
  }
  // replay
  auto it = windows_.find(topic.device);
  if (it == windows_.end()) {
    it = windows_.emplace(topic.device, ReplayWindow(options_.replay_window)).first;
  }
  if (Status s = it->second.Accept(header.seq); !s.ok()) {
    return Refuse(topic, device_protocol::DeviceError::kReplay, s.message(), seq, std::nullopt,
                  now_ms);
  }

  Accepted a;
  a.device = topic.device;
  a.kind = topic.kind;
  a.item = topic.item;
  a.seq = header.seq;
  a.ts = header.ts;
  a.payload_hash = std::move(payload_hash);
  a.auth = header.mode;
  a.kid = header.kid;
  a.mac = header.mac;
  a.sig = header.sig;
  a.received = now_ms;
  a.integrity = std::move(integrity);
  a.report = std::move(integrity_report);
  ++accepted_count_;
  return a;
}

std::variant<KeyAccepted, Refusal> ReadingVerifier::HandleKeyRequest(
    const std::string& device, ByteView payload, uint64_t now_ms,
    const device_protocol::RandomSource& random) {
  device_protocol::DeviceTopic topic;
  topic.device = device;
  topic.kind = device_protocol::TopicKind::kKey;
  if (payload.size() > options_.max_payload_bytes) {
    return Refuse(topic, device_protocol::DeviceError::kTooLarge,
                  "payload of " + std::to_string(payload.size()) + " bytes is above the limit " +
                      std::to_string(options_.max_payload_bytes),
                  std::nullopt, std::nullopt, now_ms);
  }
  std::optional<Bytes> pubkey = devices_ ? devices_->PublicKey(device) : std::nullopt;
  if (sessions_ == nullptr) {
    return Refuse(topic, device_protocol::DeviceError::kInternal, "no session store", std::nullopt,
                  std::nullopt, now_ms);
  }
  auto result = sessions_->HandleKeyRequest(device, payload, pubkey, now_ms, random);
  if (auto* refusal = std::get_if<KeyRefusal>(&result)) {
    return Refuse(topic, refusal->error, refusal->reason, std::nullopt, refusal->nonce, now_ms);
  }
  KeyAgreed& agreed = std::get<KeyAgreed>(result);
  Report({LogLevel::kInfo,
          "session_agreed",
          {{"device", device},
           {"kid", HexEncode(agreed.reply.kid)},
           {"expires", std::to_string(agreed.reply.expires)}}},
         now_ms);
  KeyAccepted accepted;
  accepted.answer_topic = device_protocol::KeySuccessTopic(options_.topic_prefix, device);
  accepted.answer_json = std::move(agreed.answer_json);
  accepted.reply = std::move(agreed.reply);
  return accepted;
}

const ReplayWindow* ReadingVerifier::replay_window(const std::string& device) const {
  auto it = windows_.find(device);
  return it == windows_.end() ? nullptr : &it->second;
}

Status ReadingVerifier::RestoreReplayWindow(const std::string& device, ReplayWindow window) {
  if (window.width() != options_.replay_window) {
    return InvalidArgumentError("replay window of " + device + ": width " +
                                std::to_string(window.width()) + ", configured " +
                                std::to_string(options_.replay_window));
  }
  windows_.insert_or_assign(device, std::move(window));
  return OkStatus();
}

uint64_t ReadingVerifier::refusal_count(device_protocol::DeviceError error) const {
  size_t i = static_cast<size_t>(error);
  return i < refusals_.size() ? refusals_[i] : 0;
}

Refusal ReadingVerifier::Refuse(const device_protocol::DeviceTopic& topic,
                                device_protocol::DeviceError error, std::string reason,
                                std::optional<uint64_t> seq, std::optional<Bytes> nonce,
                                uint64_t now_ms) {
  Refusal r;
  r.error = error;
  r.reason = std::move(reason);
  r.answer_topic = device_protocol::RefusalTopic(options_.topic_prefix, topic, error);
  std::optional<std::string> item;
  if (topic.kind != device_protocol::TopicKind::kKey) item = topic.item;
  r.answer_json = device_protocol::ErrorJson(error, r.reason, seq, item, nonce);
  size_t i = static_cast<size_t>(error);
  if (i < refusals_.size()) ++refusals_[i];

  VerifierEvent ev{LogLevel::kWarn, "message_refused", {}};
  ev.fields.emplace_back("device", topic.device);
  ev.fields.emplace_back("kind", KindName(topic.kind));
  if (item) ev.fields.emplace_back("item", *item);
  ev.fields.emplace_back("code", std::string(device_protocol::DeviceErrorCode(error)));
  if (seq) ev.fields.emplace_back("seq", std::to_string(*seq));
  ev.fields.emplace_back("reason", r.reason);
  Report(std::move(ev), now_ms);
  return r;
}

void ReadingVerifier::Report(VerifierEvent event, uint64_t now_ms) {
  if (!events_) return;
  const uint64_t second = now_ms / 1000;
  if (second != log_second_) {
    log_second_ = second;
    log_lines_this_second_ = 0;
  }
  if (log_lines_this_second_ >= options_.max_log_lines_per_second) return;
  ++log_lines_this_second_;
  events_(event);
}

}  // namespace bridge
}  // namespace provledger
