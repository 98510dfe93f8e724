#include "mqtt-bridge/reading_pipeline.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>
#include <variant>

#include "common/ecdsa.h"
#include "common/log.h"
#include "device_protocol/answers.h"
#include "device_protocol/device_message.h"
#include "device_protocol/error_codes.h"
#include "device_protocol/integrity_report.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"
#include "mqtt-bridge/bridge_metrics.h"
#include "mqtt-bridge/test_seams.h"

namespace provledger::bridge {

ReadingPipeline::ReadingPipeline(ReadingPipelineOptions options, ReadingVerifier* verifier,
                                 SessionKeyStore* sessions, PolicyFilter* policy,
                                 SessionShare* share, IntegrityTracker* integrity,
                                 const PolicySource* policies, Outbox* outbox, Intake* intake,
                                 AnswerPublisher* publisher, std::function<void()> on_accepted)
    : options_(std::move(options)),
      verifier_(verifier),
      sessions_(sessions),
      policy_(policy),
      share_(share),
      integrity_(integrity),
      policies_(policies),
      outbox_(outbox),
      intake_(intake),
      publisher_(publisher),
      on_accepted_(std::move(on_accepted)),
      inbox_(options_.inbox_capacity, options_.inbox_capacity_bytes,
             [](const Inbound& in) { return in.msg.payload.size() + in.msg.topic.size(); }) {
  worker_ = std::make_unique<Worker>("verify", [this](Worker& w) { VerifyLoop(w); });
}

void ReadingPipeline::Stop() {
  if (!worker_) return;
  worker_->set_on_stop([this] { inbox_.Close(); });
  worker_.reset();  // returns once the inbox is empty
}

void ReadingPipeline::Publish(const std::string& topic, const std::string& json, bool retained) {
  publisher_->Publish(Answer{topic, json, retained, {}},
                      std::chrono::milliseconds(options_.answer_wait_ms));
}

void ReadingPipeline::VerifyLoop(Worker& w) {
  std::vector<Inbound> chunk;
  while (true) {
    inbox_.PopBatch(2000, std::chrono::milliseconds(100), &chunk);
    // Asked to stop, it still drains: the consumer has stopped, so the inbox only empties.
    if (chunk.empty()) {
      if (w.stopping()) return;
      continue;
    }
    HandleChunk(&chunk);
    chunk.clear();
    // The store is this thread's: its size is published for scrapes from here.
    Metrics().session_devices.Set(static_cast<double>(sessions_->device_count()));
  }
}

void ReadingPipeline::HandleChunk(std::vector<Inbound>* chunk) {
  const std::string& prefix = options_.topic_prefix;
  OutboxBatch batch;
  std::vector<OutboxEntry>& entries = batch.entries;
  std::vector<std::pair<device_protocol::DeviceTopic, uint64_t>>
      entry_topics;  // for `internal` answers
  std::set<std::string> touched;
  for (auto& in : *chunk) {
    const MqttMessage& m = in.msg;
    // Whatever becomes of it below, this chunk's batch takes care of its intake copy.
    batch.intake_upto = std::max(batch.intake_upto, in.intake_key);
    if (m.retained) {
      ignored_.fetch_add(1);
      continue;
    }
    if (share_ && share_->Owns(m.topic)) {
      auto shared = share_->Open(m.topic, m.payload);
      if (shared.ok()) {
        sessions_->InstallShared(shared->device, shared->kid, shared->key, shared->expires,
                                 shared->agreed_ms, NowMs());
        shared_sessions_.fetch_add(1);
      } else {
        LogWarn("shared_session_refused")
            .Kv("topic", m.topic)
            .Kv("err", shared.status().ToString());
      }
      continue;
    }
    auto topic = device_protocol::ParseDeviceTopic(prefix, m.topic);
    if (!topic.ok()) {
      ignored_.fetch_add(1);
      continue;
    }
    const uint64_t now = NowMs();
    if (topic->kind == device_protocol::TopicKind::kKey) {
      auto r = verifier_->HandleKeyRequest(topic->device, m.payload, now,
                                           [](size_t n) { return RandomBytes(n); });
      if (auto* ok = std::get_if<KeyAccepted>(&r)) {
        if (share_) {
          // Tell the group before the device can use the session.
          auto key = sessions_->Lookup(topic->device, ok->reply.kid, now);
          if (key.ok()) {
            SharedSession ss{topic->device, ok->reply.kid, *key, ok->reply.expires, now};
            Publish(share_->Topic(topic->device), share_->Seal(ss), /*retained=*/true);
          }
        }
        Publish(ok->answer_topic, ok->answer_json);
        Metrics().sessions_agreed.Inc();
      } else {
        refused_.fetch_add(1);
        const auto& ref = std::get<Refusal>(r);
        CountRefusal(ref.error);
        Publish(ref.answer_topic, ref.answer_json);
      }
      continue;
    }
    auto v = verifier_->Verify(*topic, m.user_properties, m.payload, now);
    if (auto* ref = std::get_if<Refusal>(&v)) {
      if (ref->error == device_protocol::DeviceError::kReplay && m.duplicate) {
        // The broker sent it again: we took it in before (its PUBACK was lost when we
        // stopped) and answer that copy; answering this one `replay` would contradict it.
        ignored_.fetch_add(1);
        continue;
      }
      refused_.fetch_add(1);
      CountRefusal(ref->error);
      Publish(ref->answer_topic, ref->answer_json);
      continue;
    }
    const Accepted& a = std::get<Accepted>(v);
    touched.insert(a.device);
    if (topic->kind == device_protocol::TopicKind::kData &&
        policy_->Decide(a.device, a.item, a.ts, m.payload) == PolicyDecision::kSkip) {
      skipped_.fetch_add(1);
      Publish(device_protocol::DataSuccessTopic(prefix, a.device, a.item),
              device_protocol::SkippedAckJson(a.seq));
      continue;
    }
    if (topic->kind == device_protocol::TopicKind::kData &&
        test_seams::DropReading(a.device, a.item, a.seq)) {
      continue;  // only in a test build of a dishonest gateway (test_seams.h)
    }
    if (topic->kind == device_protocol::TopicKind::kIntegrity) {
      if (!policies_->loaded()) {
        refused_.fetch_add(1);
        CountRefusal(device_protocol::DeviceError::kInternal);
        Publish(
            device_protocol::IntegrityErrorTopic(prefix, a.device),
            device_protocol::ErrorJson(device_protocol::DeviceError::kInternal,
                                       "the bridge has not read the runtime policies from the "
                                       "ledger yet; send the report again",
                                       a.seq, std::string(ledger::kIntegrityItem), std::nullopt));
        continue;
      }
      entries.push_back(
          OutboxEntry{0, AppraiseReport(a), std::move(in.msg.payload), in.intake_key});
      entry_topics.emplace_back(*topic, a.seq);
      continue;
    }
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = a.device;
    r.item = a.item;
    r.seq = a.seq;
    r.ts = a.ts;
    r.payload_hash = a.payload_hash;
    r.auth =
        a.auth == device_protocol::AuthMode::kSignature ? ledger::kAuthSignature : ledger::kAuthMac;
    if (a.auth == device_protocol::AuthMode::kSignature) r.device_sig = a.sig;
    r.gateway = options_.gateway_id;
    r.received = a.received;
    r.integrity = static_cast<uint8_t>(a.integrity.status);
    r.attestation = a.integrity.attestation.empty() ? Bytes(32, '\0') : a.integrity.attestation;
    // The payload is not needed here any more; the outbox refers to its intake copy.
    entries.push_back(
        OutboxEntry{0, ledger::EncodeRecord(rec), std::move(in.msg.payload), in.intake_key});
    entry_topics.emplace_back(*topic, a.seq);
  }
  if (entries.empty() && touched.empty() && batch.intake_upto == 0) return;
  for (const auto& d : touched) {
    const ReplayWindow* w = verifier_->replay_window(d);
    if (w != nullptr) batch.replay_windows.emplace_back(d, w->Serialize());
  }
  // The policy state these readings leave behind is written with them.
  batch.policy_states = policy_->Dirty();
  batch.integrity_states = integrity_->Dirty();
  Status s = outbox_->Append(&batch);
  // Either way the chunk's messages are verified (on failure their senders are answered
  // `internal` below; their intake copies go with the next chunk's).
  intake_->MarkDone(batch.intake_upto);
  if (s.ok()) {
    policy_->Commit();
    integrity_->Commit();
  } else {
    policy_->Rollback();
    integrity_->Rollback();
    LogError("outbox_write_failed").Kv("err", s.ToString()).Kv("readings", entries.size());
    for (const auto& [t, seq] : entry_topics) {
      refused_.fetch_add(1);
      CountRefusal(device_protocol::DeviceError::kInternal);
      Publish(device_protocol::ErrorTopic(prefix, t),
              device_protocol::ErrorJson(device_protocol::DeviceError::kInternal,
                                         "the bridge could not store the message; send it again",
                                         seq, t.item, std::nullopt));
    }
    return;
  }
  accepted_.fetch_add(entries.size());
  on_accepted_();
}

Bytes ReadingPipeline::AppraiseReport(const Accepted& a) {
  // The verifier parsed it (and refused every report that does not parse).
  const device_protocol::IntegrityReport empty;
  const device_protocol::IntegrityReport& r = a.report ? *a.report : empty;
  const std::shared_ptr<const CompiledPolicy> policy = policies_->PolicyFor(a.device);
  const uint64_t count = integrity_->AppraisedCount(a.device, r.boot);
  Appraisal ap = Appraise(r, count, policy.get());
  const bool trusted = ap.verdict == ledger::kVerdictTrusted;
  ReportHeader h;
  h.device = a.device;
  h.seq = a.seq;
  h.ts = a.ts;
  h.report_hash = a.payload_hash;
  h.auth =
      a.auth == device_protocol::AuthMode::kSignature ? ledger::kAuthSignature : ledger::kAuthMac;
  h.device_sig = a.sig;
  h.gateway = options_.gateway_id;
  h.received = a.received;
  Bytes bytes = ledger::EncodeRecord(AttestationRecordOf(h, ap));
  const Bytes id = ledger::RecordId(bytes);
  // From this moment the device's readings carry this status (section 7).
  integrity_->Record(a.device, r.boot, ap.next_count,
                     trusted ? IntegrityStatus::kTrusted : IntegrityStatus::kUntrusted, id, a.seq);
  appraised_.fetch_add(1);
  LogLine line(trusted ? LogLevel::kInfo : LogLevel::kWarn, "integrity_appraised");
  line.Kv("device", a.device)
      .Kv("seq", a.seq)
      .Kv("boot", r.boot)
      .Kv("verdict", trusted ? "trusted" : "untrusted")
      .Kv("policy", policy ? policy->name() : "-")
      .Kv("policy_version", ap.policy_version)
      .Kv("appraised", ap.appraised)
      .Kv("repeated", ap.repeated)
      .Kv("lost", ap.lost)
      .Kv("failures", ap.failures.size())
      .Kv("record", HexEncode(id));
  if (!trusted) line.Kv("reason", ap.reason);
  return bytes;
}

}  // namespace provledger::bridge
