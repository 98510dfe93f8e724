#include "mqtt-bridge/bridge.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <tuple>

#include "common/log.h"
#include "device_protocol/answers.h"
#include "device_protocol/device_message.h"
#include "device_protocol/error_codes.h"
#include "device_protocol/topics.h"
#include "ledger/block_header.h"
#include "ledger/record.h"

namespace provledger::bridge {

namespace v1 = provledger::v1;

Status BridgeOptions::Validate() const {
  if (gateway_id.empty() || !ledger::IsValidName(gateway_id)) {
    return InvalidArgumentError("gateway id '" + gateway_id + "' is not a valid name");
  }
  if (nodes.empty()) return InvalidArgumentError("no ledger node address given");
  if (data_dir.empty()) return InvalidArgumentError("no data dir given");
  if (max_batch_records == 0 || submit_workers == 0 || inbox_capacity == 0) {
    return InvalidArgumentError("batch size, workers and inbox capacity must be above 0");
  }
  if (submit_timeout_ms == 0 || read_timeout_ms == 0) {
    return InvalidArgumentError("submit and read timeouts must be above 0 ms");
  }
  if (!share_group.empty() && !ledger::IsValidName(share_group)) {
    return InvalidArgumentError("share group '" + share_group + "' is not a valid name");
  }
  if (!share_secret.empty() && (share_secret.size() != 32 || share_group.empty())) {
    return InvalidArgumentError("a share secret needs a share group and must be 32 bytes");
  }
  PL_RETURN_IF_ERROR(verifier.Validate());
  PL_RETURN_IF_ERROR(sessions.Validate());
  return OkStatus();
}

Status ParsePolicySpec(const std::string& spec, std::map<std::string, WritePolicy>* out) {
  const size_t a = spec.find(':');
  if (a == std::string::npos)
    return InvalidArgumentError("policy '" + spec + "': want ITEM:KIND[:ARG]");
  const std::string item = spec.substr(0, a);
  std::string kind = spec.substr(a + 1), arg;
  const size_t b = kind.find(':');
  if (b != std::string::npos) {
    arg = kind.substr(b + 1);
    kind = kind.substr(0, b);
  }
  if (!ledger::IsValidName(item))
    return InvalidArgumentError("policy item '" + item + "' is not a valid name");
  WritePolicy p;
  try {
    if (kind == "all" && arg.empty()) {
      p = WritePolicy::All();
    } else if (kind == "periodic" && !arg.empty()) {
      p = WritePolicy::Periodic(std::stoull(arg));
    } else if (kind == "change" && !arg.empty()) {
      p = WritePolicy::Change(std::stod(arg));
    } else {
      return InvalidArgumentError("policy '" + spec +
                                  "': kinds are all, periodic:MS, change:THRESHOLD");
    }
  } catch (const std::exception&) {
    return InvalidArgumentError("policy '" + spec + "': bad number");
  }
  PL_RETURN_IF_ERROR(p.Validate());
  (*out)[item] = p;
  return OkStatus();
}

Bridge::Bridge(BridgeOptions options, PrivateKey gateway_key)
    : options_(std::move(options)), gateway_key_(std::move(gateway_key)) {}

StatusOr<std::unique_ptr<Bridge>> Bridge::Start(BridgeOptions options, PrivateKey gateway_key) {
  PL_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Bridge> b(new Bridge(std::move(options), std::move(gateway_key)));
  const BridgeOptions& o = b->options_;
  ::mkdir(o.data_dir.c_str(), 0700);
  PL_ASSIGN_OR_RETURN(b->outbox_, Outbox::Open(o.data_dir + "/outbox"));
  PL_ASSIGN_OR_RETURN(b->intake_, Intake::Open(o.data_dir + "/intake"));

  client::ClientOptions copts;
  copts.timeout_ms = o.submit_timeout_ms;
  copts.read_timeout_ms = o.read_timeout_ms;
  PL_ASSIGN_OR_RETURN(b->ledger_, client::LedgerClient::Create(o.nodes, copts));
  // The chain id goes into every batch digest; wait a little for a node that is starting.
  StatusOr<v1::NodeStatus> st = UnavailableError("not asked");
  for (int i = 0; i < 100; ++i) {
    st = b->ledger_->GetStatus();
    if (st.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!st.ok()) return st.status().Annotate("no ledger node answers");
  b->chain_id_ = st->chain_id();
  StatusOr<v1::RegistryListing> gw = UnavailableError("not asked");
  for (int i = 0; i < 50; ++i) {  // nodes that are starting may not answer at once
    gw = b->ledger_->Gateways(o.gateway_id);
    if (gw.ok() || gw.status().code() == StatusCode::kNotFound) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!gw.ok()) return gw.status().Annotate("gateway " + o.gateway_id);
  if (gw->gateways_size() != 1 || gw->gateways(0).pubkey() != b->gateway_key_.PublicKey()) {
    return PermissionDeniedError("gateway '" + o.gateway_id +
                                 "' is registered with another key than --gateway_key");
  }

  b->devices_ = std::make_unique<LedgerDeviceDirectory>(b->ledger_.get(), o.registry_refresh_ms);
  Status refreshed = b->devices_->Refresh();
  for (int i = 0; !refreshed.ok() && i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    refreshed = b->devices_->Refresh();
  }
  PL_RETURN_IF_ERROR(refreshed);
  b->devices_->StartRefresher();
  b->sessions_ = std::make_unique<SessionKeyStore>(o.gateway_id, b->gateway_key_, o.sessions);
  b->verifier_ = std::make_unique<ReadingVerifier>(
      o.verifier, b->devices_.get(), &b->integrity_, b->sessions_.get(),
      [](const VerifierEvent& ev) {
        LogLine line(ev.level, ev.name);  // once, at the event's own level and name
        for (const auto& [k, v] : ev.fields) line.Kv(k, v);
      });
  b->policy_ = std::make_unique<PolicyFilter>(o.policies);
  PL_RETURN_IF_ERROR(b->policy_->Validate());
  // A restarted bridge skips what its write policy would have skipped: state from disk.
  PL_ASSIGN_OR_RETURN(auto policy_states, b->outbox_->PolicyStates());
  for (const auto& [key, state] : policy_states) {
    PL_RETURN_IF_ERROR(b->policy_->Restore(key, state).Annotate("outbox policy state"));
  }

  // A reading replayed after a restart is still refused: windows come back from disk.
  PL_ASSIGN_OR_RETURN(auto windows, b->outbox_->ReplayWindows());
  for (auto& [device, bytes] : windows) {
    auto w = ReplayWindow::Deserialize(bytes);
    if (!w.ok()) return w.status().Annotate("replay window of " + device);
    PL_RETURN_IF_ERROR(b->verifier_->RestoreReplayWindow(device, std::move(*w)));
  }

  // Made before any thread that reads it starts (TSan found it set after, once).
  if (!o.share_secret.empty())
    b->share_ = std::make_unique<SessionShare>(o.share_secret, o.share_group);

  // Messages taken in (PUBACKed) by the last run but not yet verified: verified first.
  PL_ASSIGN_OR_RETURN(const uint64_t watermark, b->outbox_->IntakeWatermark());
  b->intake_->MarkDone(watermark);
  PL_ASSIGN_OR_RETURN(auto pending, b->intake_->Pending(watermark));
  for (auto& [key, bytes] : pending) {
    auto m = DecodeMessage(bytes);
    if (!m.ok()) {  // deleted with the chunks after it
      LogError("intake_entry_unreadable").Kv("key", key).Kv("err", m.status().ToString());
      continue;
    }
    b->inbox_bytes_ += m->payload.size() + m->topic.size();
    b->inbox_.push_back(Inbound{std::move(m).value(), NowMs(), key});
  }
  if (!pending.empty()) LogInfo("intake_restored").Kv("messages", b->inbox_.size());

  MqttOptions mo;
  mo.uri = o.broker_uri;
  // A stable client id and a persistent session: readings published while the bridge is
  // down wait at the broker and are delivered when it returns.
  mo.client_id = o.client_id.empty() ? "pl-bridge-" + o.gateway_id : o.client_id;
  mo.persistent_session = true;
  mo.receive_maximum = 100;
  // Answers leave on a connection of their own, so they still go out after the consumer
  // has disconnected at Stop. A clean session: nothing is ever delivered to it.
  MqttOptions ao;
  ao.uri = o.broker_uri;
  ao.client_id = mo.client_id + "-answers";
  Bridge* self = b.get();
  PL_ASSIGN_OR_RETURN(b->answers_, MqttClient::Connect(ao, nullptr));
  b->publisher_ = std::make_unique<Worker>("publish", [self](Worker& w) { self->PublishLoop(w); });
  b->verify_worker_ =
      std::make_unique<Worker>("verify", [self](Worker& w) { self->VerifyLoop(w); });
  for (size_t i = 0; i < o.submit_workers; ++i) {
    b->workers_.push_back(
        std::make_unique<Worker>("submit", [self](Worker& w) { self->SubmitLoop(w); }));
  }
  // Last: with a persistent session the broker delivers as soon as this connects.
  PL_ASSIGN_OR_RETURN(
      b->mqtt_, MqttClient::Connect(mo, [self](MqttMessage m) { self->OnMessage(std::move(m)); }));
  b->stats_worker_ = std::make_unique<Worker>("stats", [self](Worker& w) { self->StatsLoop(w); });

  const std::string& p = o.verifier.topic_prefix;
  const std::string share = o.share_group.empty() ? "" : "$share/" + o.share_group + "/";
  std::vector<std::string> filters;
  if (b->share_) {
    // Every bridge of the group sees every session (a plain, not a shared, subscription).
    filters.push_back(b->share_->Filter());
  } else if (!o.share_group.empty()) {
    LogWarn("sessions_not_shared")
        .Kv("detail", "no --share_secret: MACed devices must agree keys with every bridge");
  }
  for (const std::string& f :
       {p + "/+/key", p + "/+/data/+", p + "/+/integrity", p + "/+/update/status"}) {
    filters.push_back(share + f);
  }
  // One SUBSCRIBE: after a restart its SUBACK comes behind the backlog the broker kept.
  PL_RETURN_IF_ERROR(b->mqtt_->Subscribe(filters, 1, 60000));
  LogInfo("bridge_ready")
      .Kv("gateway", o.gateway_id)
      .Kv("broker", o.broker_uri)
      .Kv("chain", b->chain_id_)
      .Kv("devices", b->devices_->size())
      .Kv("outbox", b->outbox_->size())
      .Kv("share_group", o.share_group.empty() ? "-" : o.share_group);
  return b;
}

Bridge::~Bridge() { Stop(); }

void Bridge::Stop() {
  if (stopped_.exchange(true)) return;
  // 1. Stop consuming. Once the consumer has disconnected no message is taken; what the
  //    broker holds for us waits in our persistent session.
  if (mqtt_) mqtt_->Disconnect();
  size_t inbox = 0;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox = inbox_.size();
  }
  LogInfo("bridge_stopping")
      .Kv("received", received_.load())
      .Kv("inbox", inbox)
      .Kv("outbox", outbox_ ? outbox_->size() : 0);
  // 2. Everything taken in is verified: into the outbox, or answered.
  if (verify_worker_) {
    verify_worker_->set_on_stop([this] { inbox_cv_.notify_all(); });
    verify_worker_.reset();  // returns once the inbox is empty
  }
  // 3. The submit workers settle the outbox, for a bounded time; one in flight finishes.
  const uint64_t deadline = NowMs() + options_.drain_timeout_ms;
  while (outbox_ && outbox_->size() > 0 && !workers_.empty() && NowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : workers_) w->set_on_stop([this] { take_cv_.notify_all(); });
  workers_.clear();  // each Worker stops and joins
  stats_worker_.reset();
  // 4. Every answer made so far goes out and is acknowledged by the broker before the
  //    answer connection closes.
  if (publisher_) {
    publisher_->set_on_stop([this] { out_cv_.notify_all(); });
    publisher_.reset();  // sends what the others left, then joins
  }
  if (answers_) {
    Status s = answers_->WaitForPublishes(options_.drain_timeout_ms);
    if (!s.ok()) LogWarn("answers_not_acknowledged").Kv("err", s.ToString());
    answers_->Disconnect();
  }
  LogInfo("bridge_stopped")
      .Kv("received", received_.load())
      .Kv("committed", committed_.load())
      .Kv("outbox", outbox_ ? outbox_->size() : 0)
      .Kv("intake", intake_ ? intake_->pending() : 0);
}

BridgeStats Bridge::stats() const {
  BridgeStats s;
  s.received = received_.load();
  s.dropped = dropped_.load();
  s.ignored = ignored_.load();
  s.refused = refused_.load();
  s.accepted = accepted_.load();
  s.skipped = skipped_.load();
  s.committed = committed_.load();
  s.outbox = outbox_ ? outbox_->size() : 0;
  s.submit_errors = submit_errors_.load();
  s.ledger_refused = ledger_refused_.load();
  s.shared_sessions = shared_sessions_.load();
  return s;
}

void Bridge::OnMessage(MqttMessage msg) {
  received_.fetch_add(1);
  const size_t bytes = msg.payload.size() + msg.topic.size();
  bool room = false;
  {
    // Only this thread adds to the inbox: room found here is still there below.
    std::lock_guard<std::mutex> lock(inbox_mu_);
    room = inbox_.size() < options_.inbox_capacity &&
           inbox_bytes_ + bytes <= options_.inbox_capacity_bytes;
  }
  auto topic = device_protocol::ParseDeviceTopic(options_.verifier.topic_prefix, msg.topic);
  const char* refusal = "the bridge is overloaded; send the reading again";
  if (room) {
    // Paho sends the PUBACK when this returns: a message that may become a record is on
    // disk first. Key requests are retried by devices, integrity reports answered anyway,
    // and a message too large or without a valid header is refused for sure (cheap checks
    // that keep a flood of garbage from costing an fsync each).
    uint64_t key = 0;
    const bool keep = topic.ok() && !msg.retained && msg.qos >= 1 &&
                      (topic->kind == device_protocol::TopicKind::kData ||
                       topic->kind == device_protocol::TopicKind::kUpdateStatus) &&
                      msg.payload.size() <= options_.verifier.max_payload_bytes &&
                      device_protocol::ParseDeviceHeader(msg.user_properties).ok();
    if (keep) {
      auto k = intake_->Put(EncodeMessage(msg), options_.intake_sync);
      if (k.ok()) {
        key = *k;
      } else {
        room = false;
        refusal = "the bridge could not store the reading; send it again";
        if (intake_failures_.fetch_add(1) % 100 == 0) {
          LogError("intake_write_failed")
              .Kv("failures", intake_failures_.load())
              .Kv("err", k.status().ToString());
        }
      }
    }
    if (room) {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      inbox_bytes_ += bytes;
      inbox_.push_back(Inbound{std::move(msg), NowMs(), key});
      inbox_cv_.notify_one();
      return;
    }
  }
  // Full (or not storable): never block Paho's thread and never hold more than the limits
  // in memory. The device is told (`internal`: nothing recorded, send it again) and the
  // drop is counted.
  dropped_.fetch_add(1);
  if (!topic.ok() || msg.retained) return;
  if (topic->kind == device_protocol::TopicKind::kKey)
    return;  // a key request is simply retried by the device
  std::optional<uint64_t> seq = device_protocol::FindParsableSeq(msg.user_properties);
  Publish(device_protocol::ErrorTopic(options_.verifier.topic_prefix, *topic),
          device_protocol::ErrorJson(device_protocol::DeviceError::kInternal, refusal, seq,
                                     topic->item, std::nullopt));
}

void Bridge::Publish(const std::string& topic, const std::string& json, bool retained,
                     std::vector<uint64_t> settles) {
  // Answers leave through one publisher thread, in the order they were made.
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    outgoing_.push_back(Outgoing{topic, json, retained, std::move(settles)});
  }
  out_cv_.notify_one();
}

void Bridge::PublishLoop(Worker& w) {
  std::deque<Outgoing> batch;
  std::vector<uint64_t> settled;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(out_mu_);
      out_cv_.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return !outgoing_.empty() || w.stopping(); });
      batch.swap(outgoing_);
    }
    bool all_sent = true;
    for (auto& o : batch) {
      Status s = answers_->Publish(o.topic, o.payload, 1, o.retained);
      if (!s.ok()) {
        all_sent = false;
        LogWarn("answer_publish_failed").Kv("topic", o.topic).Kv("err", s.ToString());
      }
      settled.insert(settled.end(), o.settles.begin(), o.settles.end());
    }
    batch.clear();
    if (!settled.empty()) {
      // An outbox entry leaves only once the broker holds its answer: killed before that,
      // the bridge resubmits it after the restart and the ledger's duplicate answer is
      // acknowledged again. Unconfirmed answers keep their entries until then.
      Status acked = all_sent ? answers_->WaitForPublishes(options_.drain_timeout_ms)
                              : UnavailableError("an answer could not be published");
      if (acked.ok()) {
        RemoveFromOutbox(settled);
      } else {
        LogWarn("answers_unconfirmed")
            .Kv("readings", settled.size())
            .Kv("detail", "kept in the outbox; answered again after the next restart")
            .Kv("err", acked.ToString());
      }
      settled.clear();
    }
    if (w.stopping()) {
      std::lock_guard<std::mutex> lock(out_mu_);
      if (outgoing_.empty()) return;  // answers made before the stop still go out
    }
  }
}

void Bridge::VerifyLoop(Worker& w) {
  std::vector<Inbound> chunk;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      inbox_cv_.wait_for(lock, std::chrono::milliseconds(100),
                         [&] { return !inbox_.empty() || w.stopping(); });
      while (!inbox_.empty() && chunk.size() < 2000) {
        inbox_bytes_ -= inbox_.front().msg.payload.size() + inbox_.front().msg.topic.size();
        chunk.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
    }
    // Asked to stop, it still drains: the consumer has stopped, so the inbox only empties.
    if (chunk.empty()) {
      if (w.stopping()) return;
      continue;
    }
    HandleChunk(&chunk);
    chunk.clear();
  }
}

void Bridge::HandleChunk(std::vector<Inbound>* chunk) {
  const std::string& prefix = options_.verifier.topic_prefix;
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
      } else {
        refused_.fetch_add(1);
        const auto& ref = std::get<Refusal>(r);
        Publish(ref.answer_topic, ref.answer_json);
      }
      continue;
    }
    if (topic->kind == device_protocol::TopicKind::kIntegrity) {
      refused_.fetch_add(1);
      // Section 3: an error answer carries the report's seq whenever its pl-seq parsed.
      Publish(device_protocol::IntegrityErrorTopic(prefix, topic->device),
              device_protocol::ErrorJson(device_protocol::DeviceError::kInternal,
                                         "integrity appraisal is not enabled on this bridge",
                                         device_protocol::FindParsableSeq(m.user_properties),
                                         std::string(ledger::kIntegrityItem), std::nullopt));
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
    entries.push_back(OutboxEntry{0, ledger::EncodeRecord(rec), m.payload});
    entry_topics.emplace_back(*topic, a.seq);
  }
  if (entries.empty() && touched.empty() && batch.intake_upto == 0) return;
  for (const auto& d : touched) {
    const ReplayWindow* w = verifier_->replay_window(d);
    if (w != nullptr) batch.replay_windows.emplace_back(d, w->Serialize());
  }
  // The policy state these readings leave behind is written with them.
  batch.policy_states = policy_->Dirty();
  Status s = outbox_->Append(&batch);
  // Either way the chunk's messages are taken care of (on failure their senders are
  // answered `internal` below): the intake may drop them.
  intake_->MarkDone(batch.intake_upto);
  if (s.ok()) {
    policy_->Commit();
  } else {
    policy_->Rollback();
    LogError("outbox_write_failed").Kv("err", s.ToString()).Kv("readings", entries.size());
    for (const auto& [t, seq] : entry_topics) {
      refused_.fetch_add(1);
      Publish(device_protocol::ErrorTopic(prefix, t),
              device_protocol::ErrorJson(device_protocol::DeviceError::kInternal,
                                         "the bridge could not store the reading; send it again",
                                         seq, t.item, std::nullopt));
    }
    return;
  }
  accepted_.fetch_add(entries.size());
  take_cv_.notify_all();
}

StatusOr<std::vector<OutboxEntry>> Bridge::TakeBatch(Worker& w) {
  std::unique_lock<std::mutex> lock(take_mu_);
  bool waited = false;
  while (!w.stopping()) {
    auto got = outbox_->Read(cursor_, options_.max_batch_records);
    if (!got.ok()) return got.status();
    if (!got->empty()) {
      // Let a short batch fill for a moment, but only while earlier batches are still with
      // the ledger (outbox entries beyond this batch): an idle ledger gets it at once.
      // A reading no longer waits batch_timeout_ms on top of a commit at low rates.
      const bool ledger_busy = outbox_->size() > got->size();
      if (got->size() < options_.max_batch_records && !waited && ledger_busy &&
          options_.batch_timeout_ms > 0) {
        waited = true;
        take_cv_.wait_for(lock, std::chrono::milliseconds(options_.batch_timeout_ms));
        continue;
      }
      // A batch is also capped in bytes: payloads travel with their records, and a node
      // refuses a gRPC message above 64 MiB on every retry.
      size_t bytes = 0, keep = 0;
      while (keep < got->size()) {
        bytes += (*got)[keep].record.size() + (*got)[keep].payload.size();
        if (keep > 0 && bytes > options_.max_batch_bytes) break;
        ++keep;
      }
      got->resize(keep);
      cursor_ = got->back().key;
      return got;
    }
    take_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return std::vector<OutboxEntry>();
}

void Bridge::SubmitLoop(Worker& w) {
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
    std::lock_guard<std::mutex> lock(ack_mu_);
    PublishAcks(acks_.EndBatch(token));
  }
}

StatusOr<v1::SignedBatch> Bridge::SignBatch(const std::vector<OutboxEntry>& entries) const {
  v1::SignedBatch sb;
  sb.set_gateway(options_.gateway_id);
  std::vector<Bytes> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) {
    sb.add_records(e.record);
    sb.add_payloads(e.payload);
    ids.push_back(ledger::RecordId(e.record));
  }
  PL_ASSIGN_OR_RETURN(Bytes sig,
                      gateway_key_.Sign(ledger::BatchDigest(chain_id_, options_.gateway_id, ids)));
  sb.set_signature(sig);
  return sb;
}

void Bridge::SubmitBatch(Worker& w, uint64_t token, std::vector<OutboxEntry> entries) {
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
      auto resp = ledger_->Submit(*sb);
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
    for (uint32_t slept = 0; slept < backoff_ms && !w.stopping(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<uint32_t>(backoff_ms * 2, 2000);
    parts.push_back(std::move(part));  // transient: the same part again
  }
}

void Bridge::AnswerRefused(const OutboxEntry& e, StatusCode code, const std::string& reason,
                           bool per_record) {
  auto rec = ledger::DecodeRecord(e.record);
  if (!rec.ok()) {  // we made it; cannot happen
    RemoveFromOutbox({e.key});
    return;
  }
  const auto& r = rec->reading;
  ledger_refused_.fetch_add(1);
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
  device_protocol::DeviceTopic t{r.device,
                                 r.item == ledger::kUpdateItem
                                     ? device_protocol::TopicKind::kUpdateStatus
                                     : device_protocol::TopicKind::kData,
                                 r.item};
  const std::string why = error == device_protocol::DeviceError::kUnregistered
                              ? "the device is not registered on the ledger, or is revoked"
                              : "the ledger refused the reading: " + reason;
  Publish(device_protocol::RefusalTopic(options_.verifier.topic_prefix, t, error),
          device_protocol::ErrorJson(error, why, r.seq, r.item, std::nullopt), /*retained=*/false,
          {e.key});
}

void Bridge::Acknowledge(uint64_t token, const std::vector<OutboxEntry>& entries,
                         const v1::SubmitResponse& resp) {
  const std::string& prefix = options_.verifier.topic_prefix;
  std::vector<CommittedReading> committed;
  std::vector<uint64_t> done;
  for (size_t i = 0; i < entries.size() && i < static_cast<size_t>(resp.results_size()); ++i) {
    const auto& res = resp.results(static_cast<int>(i));
    auto rec = ledger::DecodeRecord(entries[i].record);
    if (!rec.ok()) {  // we made it; cannot happen
      done.push_back(entries[i].key);
      continue;
    }
    const auto& r = rec->reading;
    switch (res.outcome()) {
      case v1::RecordResult::COMMITTED:
      case v1::RecordResult::DUPLICATE:
        committed.push_back(CommittedReading{r.device, r.item, r.seq, res.record_id(), res.height(),
                                             res.first_of_item(), entries[i].key});
        break;
      case v1::RecordResult::CONFLICT: {
        device_protocol::DeviceTopic t{r.device,
                                       r.item == ledger::kUpdateItem
                                           ? device_protocol::TopicKind::kUpdateStatus
                                           : device_protocol::TopicKind::kData,
                                       r.item};
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

void Bridge::PublishAcks(std::vector<BlockAck> acks) {
  const std::string& prefix = options_.verifier.topic_prefix;
  for (auto& a : acks) {
    const std::string json = device_protocol::AckJson(a.seqs.back(), a.seqs, a.record_id, a.height);
    std::string topic;
    if (a.item == ledger::kUpdateItem) {
      topic = device_protocol::UpdateStatusSuccessTopic(prefix, a.device);
    } else if (a.datas) {
      topic = device_protocol::DataDatasTopic(prefix, a.device, a.item);
    } else {
      topic = device_protocol::DataSuccessTopic(prefix, a.device, a.item);
    }
    committed_.fetch_add(a.outbox_keys.size());
    Publish(topic, json, /*retained=*/false, std::move(a.outbox_keys));
  }
}

void Bridge::RemoveFromOutbox(const std::vector<uint64_t>& keys) {
  if (keys.empty()) return;
  Status s = outbox_->Remove(keys);
  if (!s.ok()) LogWarn("outbox_remove_failed").Kv("err", s.ToString());
}

void Bridge::StatsLoop(Worker& w) {
  BridgeStats last;
  while (!w.stopping()) {
    for (uint32_t slept = 0; slept < options_.stats_interval_ms && !w.stopping(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    BridgeStats s = stats();
    if (s.received == last.received && s.committed == last.committed && s.outbox == 0) continue;
    LogInfo("bridge_stats")
        .Kv("received", s.received)
        .Kv("accepted", s.accepted)
        .Kv("refused", s.refused)
        .Kv("skipped", s.skipped)
        .Kv("committed", s.committed)
        .Kv("outbox", s.outbox)
        .Kv("dropped", s.dropped)
        .Kv("ignored", s.ignored)
        .Kv("submit_errors", s.submit_errors)
        .Kv("ledger_refused", s.ledger_refused)
        .Kv("shared_sessions", s.shared_sessions)
        .Kv("mqtt_connected", mqtt_->connected() ? 1 : 0);
    last = s;
  }
}

}  // namespace provledger::bridge
