#include "mqtt-bridge/batch_submitter.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "client/gateway_batch.h"
#include "common/clock.h"
#include "common/log.h"
#include "device_protocol/answers.h"
#include "device_protocol/error_codes.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"
#include "mqtt-bridge/bridge_metrics.h"

namespace provledger::bridge {

namespace v1 = provledger::v1;

namespace {
// The topic a record of `device` and `item` came from (its answers' base).
device_protocol::DeviceTopic TopicOf(const std::string& device, const std::string& item) {
  device_protocol::TopicKind kind = device_protocol::TopicKind::kData;
  if (item == ledger::kUpdateItem) kind = device_protocol::TopicKind::kUpdateStatus;
  if (item == ledger::kIntegrityItem) kind = device_protocol::TopicKind::kIntegrity;
  if (item == ledger::kAccountItem) kind = device_protocol::TopicKind::kAccount;
  return device_protocol::DeviceTopic{device, kind, item};
}
}  // namespace

BatchSubmitter::BatchSubmitter(BatchSubmitterOptions options, const PrivateKey& gateway_key,
                               Outbox* outbox, client::LedgerClient* ledger,
                               const DeviceDirectory* devices, AnswerPublisher* publisher)
    : options_(std::move(options)),
      gateway_key_(gateway_key),
      outbox_(outbox),
      ledger_(ledger),
      devices_(devices),
      publisher_(publisher),
      cut_(options_.batch_timeout_ms) {
  for (size_t i = 0; i < options_.submit_workers; ++i) {
    workers_.push_back(std::make_unique<Worker>("submit", [this](Worker& w) { SubmitLoop(w); }));
  }
}

void BatchSubmitter::Stop() {
  for (auto& w : workers_) w->set_on_stop([this] { take_cv_.notify_all(); });
  workers_.clear();  // each Worker stops and joins
}

void BatchSubmitter::Publish(const std::string& topic, const std::string& json, bool retained,
                             std::vector<uint64_t> settles) {
  publisher_->Publish(Answer{topic, json, retained, std::move(settles)},
                      std::chrono::milliseconds(options_.answer_wait_ms));
}

void BatchSubmitter::Wake() {
  {
    std::lock_guard<std::mutex> lock(take_mu_);
    cut_.Arrived(SteadyMs());
  }
  take_cv_.notify_all();
}

StatusOr<std::vector<OutboxEntry>> BatchSubmitter::TakeBatch(Worker& w) {
  std::unique_lock<std::mutex> lock(take_mu_);
  while (!w.stopping()) {
    // One entry beyond a full batch tells whether any would remain after it.
    auto got = outbox_->Read(cursor_, options_.max_batch_records + 1);
    if (!got.ok()) return got.status();
    if (got->empty()) {
      take_cv_.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    // A batch is also capped in bytes: payloads travel with their records, and a node
    // refuses a gRPC message above 64 MiB on every retry.
    size_t bytes = 0, keep = 0;
    while (keep < got->size() && keep < options_.max_batch_records) {
      bytes += (*got)[keep].record.size() + (*got)[keep].payload.size();
      if (keep > 0 && bytes > options_.max_batch_bytes) break;
      ++keep;
    }
    const bool remaining = keep < got->size();  // a size cap cut the batch short
    const bool full = remaining || keep == options_.max_batch_records;
    const uint64_t now = SteadyMs();
    const uint64_t wait_ms = cut_.Decide(full, now);
    if (wait_ms > 0) {
      // Woken by an arrival, an answer, or the delay's end: decide again.
      take_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms));
      continue;
    }
    got->resize(keep);
    cut_.Cut(remaining, now);
    cursor_ = got->back().key;
    return got;
  }
  return std::vector<OutboxEntry>();
}

void BatchSubmitter::SubmitLoop(Worker& w) {
  while (!w.stopping()) {
    auto batch = TakeBatch(w);
    if (!batch.ok()) {
      LogError("outbox_read_failed").Kv("err", batch.status().ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (batch->empty()) continue;
    uint64_t token = 0;
    {
      std::lock_guard<std::mutex> lock(ack_mu_);
      token = acks_.BeginBatch();
    }
    SubmitBatch(w, token, std::move(*batch));
    {
      std::lock_guard<std::mutex> lock(ack_mu_);
      PublishAcks(acks_.EndBatch(token));
    }
    {
      std::lock_guard<std::mutex> lock(take_mu_);
      cut_.Answered();
    }
    take_cv_.notify_all();  // the next batch may leave now
  }
}

StatusOr<v1::SignedBatch> BatchSubmitter::SignBatch(const std::vector<OutboxEntry>& entries) const {
  v1::SignedBatch sb;
  for (const auto& e : entries) {
    sb.add_records(e.record);
    sb.add_payloads(e.payload);
  }
  PL_RETURN_IF_ERROR(
      client::SignGatewayBatch(options_.chain_id, options_.gateway_id, gateway_key_, &sb));
  return sb;
}

void BatchSubmitter::SubmitBatch(Worker& w, uint64_t token, std::vector<OutboxEntry> entries) {
  // Parts still to submit, the next one last. A batch refused as a whole for good is split
  // in halves, down to single records, so one bad record cannot hold back the others (an
  // older node refuses a whole batch for one revoked device).
  std::vector<std::vector<OutboxEntry>> parts;
  parts.push_back(std::move(entries));
  uint64_t failures = 0;
  uint32_t backoff_ms = 100;
  bool split_logged = false;
  while (!parts.empty() && !w.stopping()) {
    std::vector<OutboxEntry> part = std::move(parts.back());
    parts.pop_back();
    Status err;
    auto sb = SignBatch(part);
    if (!sb.ok()) {
      err = sb.status().Annotate("signing the batch");
    } else {
      const uint64_t start_ms = SteadyMs();
      auto resp = ledger_->Submit(*sb);
      Metrics().submit_latency.Observe(static_cast<double>(SteadyMs() - start_ms) / 1000);
      if (resp.ok() && resp->results_size() == static_cast<int>(part.size())) {
        if (failures > 0) LogInfo("ledger_submit_recovered").Kv("failures", failures);
        failures = 0;
        backoff_ms = 100;
        Acknowledge(token, part, *resp);
        continue;
      }
      err = resp.ok() ? InternalError("node answered " + std::to_string(resp->results_size()) +
                                      " results for " + std::to_string(part.size()) + " records")
                      : resp.status();
    }
    submit_errors_.fetch_add(1);
    const SubmitFailure kind = ClassifySubmitFailure(err.code());
    if (kind != SubmitFailure::kTransient && part.size() > 1) {
      if (!split_logged) {
        LogWarn("batch_split")
            .Kv("records", part.size())
            .Kv("reason", "refused as a whole for good; submitting its halves")
            .Kv("err", err.ToString());
        split_logged = true;
      }
      const auto mid = part.begin() + static_cast<std::ptrdiff_t>(part.size() / 2);
      parts.emplace_back(mid, part.end());
      parts.emplace_back(part.begin(), mid);
      continue;
    }
    if (kind == SubmitFailure::kPermanent) {  // one record, refused for good: answer, drop
      LogWarn("reading_refused_by_ledger").Kv("err", err.ToString());
      AnswerRefused(part.front(), err.code(), err.message(), /*per_record=*/false);
      continue;
    }
    if (failures++ % 20 == 0) {
      LogWarn("ledger_submit_failed")
          .Kv("records", part.size())
          .Kv("outbox", outbox_->size())
          .Kv("err", err.ToString());
    }
    w.Sleep(backoff_ms);
    backoff_ms = std::min<uint32_t>(backoff_ms * 2, 2000);
    parts.push_back(std::move(part));  // transient: the same part again
  }
}

void BatchSubmitter::AnswerRefused(const OutboxEntry& e, StatusCode code, const std::string& reason,
                                   bool per_record) {
  auto rec = ledger::DecodeRecord(e.record);
  if (!rec.ok()) {  // we made it; cannot happen
    RemoveFromOutbox({e.key});
    return;
  }
  // Kinds 1 and 2 (readings, install reports, attestations) name their device, item, seq.
  const ledger::RecordFields r = ledger::FieldsOf(*rec);
  ledger_refused_.fetch_add(1);
  Metrics().ledger_refusals.With({StatusCodeName(code)}).Inc();
  // A per-record PERMISSION_DENIED is about the device alone (unregistered or revoked). A
  // whole batch refused so (by an older node) may be about the gateway: ask our registry.
  const bool device_gone = code == StatusCode::kPermissionDenied &&
                           (per_record || !devices_->PublicKey(r.device).has_value());
  device_protocol::DeviceError error = device_protocol::DeviceError::kInternal;
  if (device_gone) {
    error = device_protocol::DeviceError::kUnregistered;
  } else if (code == StatusCode::kResourceExhausted) {
    error = device_protocol::DeviceError::kTooLarge;
  }
  const device_protocol::DeviceTopic t = TopicOf(r.device, r.item);
  const std::string why = error == device_protocol::DeviceError::kUnregistered
                              ? "the device is not registered on the ledger, or is revoked"
                              : "the ledger refused the reading: " + reason;
  Publish(device_protocol::RefusalTopic(options_.topic_prefix, t, error),
          device_protocol::ErrorJson(error, why, r.seq, r.item, std::nullopt), /*retained=*/false,
          {e.key});
}

void BatchSubmitter::Acknowledge(uint64_t token, const std::vector<OutboxEntry>& entries,
                                 const v1::SubmitResponse& resp) {
  const std::string& prefix = options_.topic_prefix;
  std::vector<CommittedReading> committed;
  std::vector<uint64_t> done;
  for (size_t i = 0; i < entries.size() && i < static_cast<size_t>(resp.results_size()); ++i) {
    const auto& res = resp.results(static_cast<int>(i));
    auto rec = ledger::DecodeRecord(entries[i].record);
    if (!rec.ok()) {  // we made it; cannot happen
      done.push_back(entries[i].key);
      continue;
    }
    if (rec->kind == ledger::RecordKind::kAttestation &&
        (res.outcome() == v1::RecordResult::COMMITTED ||
         res.outcome() == v1::RecordResult::DUPLICATE)) {
      // One verdict per report, as soon as its record is committed (section 7).
      const ledger::AttestationRecord& at = rec->attestation;
      std::vector<std::pair<std::string, std::string>> failures;
      for (const auto& f : at.failures) failures.emplace_back(f.path, f.hash);
      committed_.fetch_add(1);
      Publish(device_protocol::IntegrityVerdictTopic(prefix, at.device),
              device_protocol::VerdictJson(at.seq, at.verdict == ledger::kVerdictTrusted, failures,
                                           res.record_id(), res.height()),
              /*retained=*/false, {entries[i].key});
      continue;
    }
    const ledger::RecordFields r = ledger::FieldsOf(*rec);
    switch (res.outcome()) {
      case v1::RecordResult::COMMITTED:
      case v1::RecordResult::DUPLICATE:
        committed.push_back(CommittedReading{r.device, r.item, r.seq, res.record_id(), res.height(),
                                             res.first_of_item(), entries[i].key});
        break;
      case v1::RecordResult::CONFLICT: {
        const device_protocol::DeviceTopic t = TopicOf(r.device, r.item);
        Publish(device_protocol::ErrorTopic(prefix, t),
                device_protocol::ErrorJson(device_protocol::DeviceError::kReplay,
                                           "this seq is already on the ledger with other content",
                                           r.seq, r.item, std::nullopt),
                /*retained=*/false, {entries[i].key});
        break;
      }
      case v1::RecordResult::REFUSED:
      default:  // an outcome this bridge does not know: not written, say so
        AnswerRefused(entries[i],
                      res.outcome() == v1::RecordResult::REFUSED
                          ? static_cast<StatusCode>(res.code())
                          : StatusCode::kInternal,
                      res.reason(), /*per_record=*/true);
        break;
    }
  }
  {
    // Acks are queued under the lock, so they leave in the order the aggregator made them.
    std::lock_guard<std::mutex> lock(ack_mu_);
    PublishAcks(acks_.Add(token, std::move(committed)));
  }
  RemoveFromOutbox(done);
}

void BatchSubmitter::PublishAcks(std::vector<BlockAck> acks) {
  const std::string& prefix = options_.topic_prefix;
  for (auto& a : acks) {
    const std::string json = device_protocol::AckJson(a.seqs.back(), a.seqs, a.record_id, a.height);
    std::string topic;
    if (a.item == ledger::kUpdateItem) {
      topic = device_protocol::UpdateStatusSuccessTopic(prefix, a.device);
    } else if (a.item == ledger::kAccountItem) {
      topic = device_protocol::AccountSuccessTopic(prefix, a.device);
    } else if (a.datas) {
      topic = device_protocol::DataDatasTopic(prefix, a.device, a.item);
    } else {
      topic = device_protocol::DataSuccessTopic(prefix, a.device, a.item);
    }
    committed_.fetch_add(a.outbox_keys.size());
    Publish(topic, json, /*retained=*/false, std::move(a.outbox_keys));
  }
}

void BatchSubmitter::RemoveFromOutbox(const std::vector<uint64_t>& keys) {
  if (keys.empty()) return;
  Status s = outbox_->Remove(keys);
  if (!s.ok()) LogWarn("outbox_remove_failed").Kv("err", s.ToString());
}

}  // namespace provledger::bridge
