#include "mqtt-bridge/bridge.h"

#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "common/log.h"
#include "device_protocol/device_message.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"
#include "mqtt-bridge/startup_wait.h"
#include "mqtt-bridge/test_seams.h"

namespace provledger::bridge {

namespace v1 = provledger::v1;

Status BridgeOptions::Validate() const {
  if (gateway_id.empty() || !ledger::IsValidName(gateway_id)) {
    return InvalidArgumentError("gateway id '" + gateway_id + "' is not a valid name");
  }
  if (nodes.empty()) return InvalidArgumentError("no ledger node address given");
  if (data_dir.empty()) return InvalidArgumentError("no data dir given");
  if (max_batch_records == 0 || submit_workers == 0 || inbox_capacity == 0 ||
      intake_batch_messages == 0 || intake_batch_messages > 65535) {
    return InvalidArgumentError(
        "batch size, workers and inbox capacity must be above 0, and intake batches 1-65535 "
        "messages");
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

Bridge::Bridge(BridgeOptions options, PrivateKey gateway_key)
    : options_(std::move(options)), gateway_key_(std::move(gateway_key)) {}

StatusOr<std::unique_ptr<Bridge>> Bridge::Start(BridgeOptions options, PrivateKey gateway_key) {
  PL_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Bridge> b(new Bridge(std::move(options), std::move(gateway_key)));
  const BridgeOptions& o = b->options_;
  ::mkdir(o.data_dir.c_str(), 0700);
  PL_ASSIGN_OR_RETURN(b->intake_, Intake::Open(o.data_dir + "/intake"));
  // A synced intake holds the payloads of the outbox's entries (written durably once); an
  // intake not synced before the PUBACK could lose them in a power loss.
  PL_ASSIGN_OR_RETURN(b->outbox_,
                      Outbox::Open(o.data_dir + "/outbox", b->intake_.get(), o.intake_sync));

  client::ClientOptions copts;
  copts.timeout_ms = o.submit_timeout_ms;
  copts.read_timeout_ms = o.read_timeout_ms;
  PL_ASSIGN_OR_RETURN(b->ledger_, client::LedgerClient::Create(o.nodes, copts));
  // What the bridge needs before it takes readings, waited for within one budget: the
  // nodes may be starting, and a registration just committed may not have reached the node
  // asked first (startup_wait.h).
  StartupWait wait(o.startup_timeout_ms, client::RetryClock::Steady(),
                   [](const std::string& line) { LogWarn("startup_waiting").Kv("msg", line); });
  StatusOr<v1::NodeStatus> st = UnavailableError("not asked");
  // The chain id goes into every batch digest.
  PL_RETURN_IF_ERROR(wait.Until("a ledger node to answer", [&](std::vector<client::NodeAnswer>*) {
    st = b->ledger_->GetStatus();
    return st.status();
  }));
  b->chain_id_ = st->chain_id();
  StatusOr<v1::RegistryListing> gw = UnavailableError("not asked");
  std::vector<client::NodeAnswer> gw_answers;
  PL_RETURN_IF_ERROR(wait.Until("gateway '" + o.gateway_id + "' to be registered",
                                [&](std::vector<client::NodeAnswer>* answers) {
                                  gw = b->ledger_->FindGatewayOnAnyNode(o.gateway_id, answers);
                                  gw_answers = *answers;
                                  return gw.status();
                                }));
  if (gw_answers.size() > 1) {  // the first nodes asked had not applied the registration yet
    gw_answers.pop_back();
    LogInfo("gateway_found_elsewhere")
        .Kv("gateway", o.gateway_id)
        .Kv("before", DescribeAnswers(gw_answers));
  }
  if (gw->gateways_size() != 1 || gw->gateways(0).pubkey() != b->gateway_key_.PublicKey()) {
    return PermissionDeniedError("gateway '" + o.gateway_id +
                                 "' is registered with another key than --gateway_key");
  }

  // A device registered on a quorum but not yet on the node this listing came from is found
  // on its first reading: LedgerDeviceDirectory looks a miss up on every node.
  b->devices_ = std::make_unique<LedgerDeviceDirectory>(b->ledger_.get(), o.registry_refresh_ms);
  PL_RETURN_IF_ERROR(wait.Until(
      "the device list", [&](std::vector<client::NodeAnswer>*) { return b->devices_->Refresh(); }));
  b->devices_->StartRefresher();
  b->policies_ = std::make_unique<LedgerPolicyDirectory>(b->ledger_.get(), o.registry_refresh_ms);
  // Without policies every report is untrusted (docs/INTEGRITY.md); the refresher retries.
  if (Status ps = b->policies_->Refresh(); !ps.ok()) {
    LogWarn("policy_refresh_failed").Kv("err", ps.ToString());
  }
  b->policies_->StartRefresher();
  // A restarted bridge appraises from the counts and status it had: state from disk.
  PL_ASSIGN_OR_RETURN(auto integrity_states, b->outbox_->IntegrityStates());
  for (const auto& [key, state] : integrity_states) {
    PL_RETURN_IF_ERROR(b->integrity_.Restore(key, state).Annotate("outbox integrity state"));
  }
  const size_t integrity_count = b->integrity_.size();  // the verify thread owns it later
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
  std::vector<Inbound> restored;
  for (auto& [key, bytes] : pending) {
    auto m = DecodeMessage(bytes);
    if (!m.ok()) {  // deleted with the chunks after it
      LogError("intake_entry_unreadable").Kv("key", key).Kv("err", m.status().ToString());
      continue;
    }
    restored.push_back(Inbound{std::move(m).value(), NowMs(), key});
  }
  pending.clear();
  if (!restored.empty()) LogInfo("intake_restored").Kv("messages", restored.size());

  MqttOptions mo;
  mo.uri = o.broker_uri;
  mo.security = o.broker_security;
  // A stable client id and a persistent session: readings published while the bridge is
  // down wait at the broker and are delivered when it returns.
  mo.client_id = o.client_id.empty() ? "pl-bridge-" + o.gateway_id : o.client_id;
  mo.persistent_session = true;
  mo.receive_maximum = 100;
  // Answers leave on a connection of their own, so they still go out after the consumer
  // has disconnected at Stop. Nothing is delivered to it, but its session is persistent
  // too: a client reconnecting with a clean session discards the answers it had sent and
  // the broker had not acknowledged (a broker crash or restart), and those readings' outbox
  // entries would be settled unanswered. With the session kept, they are sent again.
  MqttOptions ao;
  ao.uri = o.broker_uri;
  ao.security = o.broker_security;
  ao.client_id = mo.client_id + "-answers";
  ao.persistent_session = true;
  Bridge* self = b.get();
  PL_ASSIGN_OR_RETURN(std::unique_ptr<MqttClient> answers, MqttClient::Connect(ao, nullptr));
  AnswerPublisherOptions po;
  po.ack_timeout_ms = o.drain_timeout_ms;
  b->publisher_ = std::make_unique<AnswerPublisher>(
      std::move(answers), po,
      [self](const std::vector<uint64_t>& keys) { self->RemoveFromOutbox(keys); });
  BatchSubmitterOptions so;
  so.chain_id = b->chain_id_;
  so.gateway_id = o.gateway_id;
  so.topic_prefix = o.verifier.topic_prefix;
  so.max_batch_records = o.max_batch_records;
  so.max_batch_bytes = o.max_batch_bytes;
  so.batch_timeout_ms = o.batch_timeout_ms;
  so.submit_workers = o.submit_workers;
  so.answer_wait_ms = o.drain_timeout_ms;
  b->submitter_ =
      std::make_unique<BatchSubmitter>(so, b->gateway_key_, b->outbox_.get(), b->ledger_.get(),
                                       b->devices_.get(), b->publisher_.get());
  ReadingPipelineOptions rpo;
  rpo.gateway_id = o.gateway_id;
  rpo.topic_prefix = o.verifier.topic_prefix;
  rpo.inbox_capacity = o.inbox_capacity;
  rpo.inbox_capacity_bytes = o.inbox_capacity_bytes;
  rpo.answer_wait_ms = o.drain_timeout_ms;
  BatchSubmitter* submitter = b->submitter_.get();
  b->pipeline_ = std::make_unique<ReadingPipeline>(
      rpo, b->verifier_.get(), b->sessions_.get(), b->policy_.get(), b->share_.get(),
      &b->integrity_, b->policies_.get(), b->outbox_.get(), b->intake_.get(), b->publisher_.get(),
      [submitter] { submitter->Wake(); });
  // The restored intake goes first, before the consumer connects; it may exceed the inbox,
  // so it waits for the verify thread to make room.
  for (Inbound& in : restored) {
    if (in.msg.payload.size() + in.msg.topic.size() > o.inbox_capacity_bytes) {
      // Larger than the whole inbox (a smaller --inbox_capacity_bytes since it was taken
      // in): it can never be verified; the device gets no answer and sends it again.
      LogError("intake_entry_too_large").Kv("key", in.intake_key).Kv("topic", in.msg.topic);
      continue;
    }
    while (true) {
      Status queued = b->pipeline_->inbox().Push(in, std::chrono::milliseconds(1000));
      if (queued.ok()) break;
      if (queued.code() != StatusCode::kResourceExhausted) return queued;
    }
  }
  restored.clear();
  // Last: with a persistent session the broker delivers as soon as this connects.
  if (o.consumer == BridgeOptions::Consumer::kAcked) {
    // Receive Maximum: the QoS 1 messages unacknowledged at once; several batches' worth, so
    // the broker keeps sending while one batch is being written.
    mo.receive_maximum = static_cast<uint16_t>(
        std::min<size_t>(65535, std::max<size_t>(1024, 4 * o.intake_batch_messages)));
    MqttConsumerLimits limits;
    // Above it the broker drops a message for us (MQTT v5 3.1.2.11.4): well above the largest
    // payload the verifier takes, so a too-large reading is still answered `too_large`.
    limits.max_packet_size = static_cast<uint32_t>(std::min<uint64_t>(
        268435455, std::max<uint64_t>(16 << 20, 2 * o.verifier.max_payload_bytes + (1 << 20))));
    PL_ASSIGN_OR_RETURN(b->consumer_, MqttConsumer::Connect(mo, limits));
    b->consumer_worker_ =
        std::make_unique<Worker>("consumer", [self](Worker& w) { self->ConsumeLoop(w); });
  } else {
    PL_ASSIGN_OR_RETURN(b->mqtt_, MqttClient::Connect(mo, [self](MqttMessage m) {
                          self->OnMessage(std::move(m));
                        }));
  }
  b->stats_worker_ = std::make_unique<Worker>("stats", [self](Worker& w) { self->StatsLoop(w); });
  if (o.publish_firmware) {
    b->firmware_ = std::make_unique<FirmwarePublisher>(
        b->ledger_.get(), o.verifier.topic_prefix, o.registry_refresh_ms,
        [self](const std::string& topic, const std::string& payload) {
          return self->publisher_->Publish(Answer{topic, payload, true, {}},
                                           std::chrono::milliseconds(1000));
        });
    b->firmware_->Start();
  }

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
  for (const std::string& f : {p + "/+/key", p + "/+/data/+", p + "/+/integrity",
                               p + "/+/update/status", p + "/+/account"}) {
    filters.push_back(share + f);
  }
  // One SUBSCRIBE: after a restart its SUBACK comes behind the backlog the broker kept.
  PL_RETURN_IF_ERROR(b->consumer_ ? b->consumer_->Subscribe(filters, 1, 60000)
                                  : b->mqtt_->Subscribe(filters, 1, 60000));
  LogInfo("bridge_ready")
      .Kv("gateway", o.gateway_id)
      .Kv("broker", o.broker_uri)
      .Kv("chain", b->chain_id_)
      .Kv("devices", b->devices_->size())
      .Kv("integrity_states", integrity_count)
      .Kv("outbox", b->outbox_->size())
      .Kv("share_group", o.share_group.empty() ? "-" : o.share_group)
      .Kv("consumer", b->consumer_ ? "acked" : "library");
  return b;
}

Bridge::~Bridge() { Stop(); }

void Bridge::Stop() {
  if (stopped_.exchange(true)) return;
  // 1. Stop consuming. Once the consumer has disconnected no message is taken; what the
  //    broker holds for us waits in our persistent session. The consumer thread finishes
  //    the batch in hand first (intake write, PUBACKs), and Disconnect sends those PUBACKs.
  if (consumer_worker_) consumer_worker_->Stop();
  if (consumer_) consumer_->Disconnect();
  if (mqtt_) mqtt_->Disconnect();
  const size_t inbox = pipeline_ ? pipeline_->inbox().size() : 0;
  LogInfo("bridge_stopping")
      .Kv("received", received_.load())
      .Kv("inbox", inbox)
      .Kv("outbox", outbox_ ? outbox_->size() : 0);
  // 2. Everything taken in is verified: into the outbox, or answered.
  if (pipeline_) pipeline_->Stop();  // returns once the inbox is empty
  // 3. The submit workers settle the outbox, for a bounded time; one in flight finishes.
  const uint64_t deadline = NowMs() + options_.drain_timeout_ms;
  while (outbox_ && outbox_->size() > 0 && submitter_ && NowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (submitter_) submitter_->Stop();
  stats_worker_.reset();
  firmware_.reset();
  // 4. Every answer made so far goes out and is acknowledged by the broker before the
  //    answer connection closes.
  if (publisher_) publisher_->Stop();
  // The intake messages of chunks settled since the consumer's last write (its writer has
  // stopped); a deletion left undone is done at the next start.
  if (intake_) {
    Status released = intake_->WriteReleased();
    if (!released.ok()) LogWarn("intake_release_failed").Kv("err", released.ToString());
  }
  LogInfo("bridge_stopped")
      .Kv("received", received_.load())
      .Kv("committed", submitter_ ? submitter_->committed() : 0)
      .Kv("outbox", outbox_ ? outbox_->size() : 0)
      .Kv("intake", intake_ ? intake_->pending() : 0);
}

BridgeStats Bridge::stats() const {
  BridgeStats s;
  s.received = received_.load();
  s.dropped = dropped_.load();
  s.ignored = pipeline_ ? pipeline_->ignored() : 0;
  s.refused = pipeline_ ? pipeline_->refused() : 0;
  s.accepted = pipeline_ ? pipeline_->accepted() : 0;
  s.skipped = pipeline_ ? pipeline_->skipped() : 0;
  s.committed = submitter_ ? submitter_->committed() : 0;
  s.outbox = outbox_ ? outbox_->size() : 0;
  s.submit_errors = submitter_ ? submitter_->submit_errors() : 0;
  s.ledger_refused = submitter_ ? submitter_->ledger_refused() : 0;
  s.shared_sessions = pipeline_ ? pipeline_->shared_sessions() : 0;
  s.appraised = pipeline_ ? pipeline_->appraised() : 0;
  s.answers_not_queued = publisher_ ? publisher_->not_queued() : 0;
  s.answers_refused = publisher_ ? publisher_->refused() : 0;
  return s;
}

void Bridge::OnMessage(MqttMessage msg) {
  std::vector<MqttMessage> one;
  one.push_back(std::move(msg));
  TakeIn(&one);
}

void Bridge::ConsumeLoop(Worker& w) {
  std::vector<MqttConsumer::Delivery> got;
  std::vector<MqttMessage> batch;
  std::vector<uint64_t> acks;
  while (!w.stopping()) {
    got.clear();
    if (consumer_->Poll(&got, options_.intake_batch_messages, options_.intake_batch_bytes,
                        std::chrono::milliseconds(100)) == 0) {
      continue;
    }
    batch.clear();
    acks.clear();
    for (MqttConsumer::Delivery& d : got) {
      acks.push_back(d.ack);
      batch.push_back(std::move(d.message));
    }
    consumed_ += batch.size();
    test_seams::ConsumerSeam(test_seams::ConsumerPhase::kReceived, consumed_);
    TakeIn(&batch);
    // Each of them is on disk, in the inbox or answered: the broker may forget them now.
    consumer_->Acknowledge(acks);
  }
}

void Bridge::TakeIn(std::vector<MqttMessage>* batch) {
  constexpr const char* kOverloaded = "the bridge is overloaded; send the reading again";
  constexpr const char* kNotStored = "the bridge could not store the reading; send it again";
  struct Taken {
    StatusOr<device_protocol::DeviceTopic> topic = InvalidArgumentError("unparsed");
    bool room = false;
    uint64_t key = 0;
    const char* refusal = kOverloaded;
  };
  std::vector<Taken> taken(batch->size());
  std::vector<Bytes> encoded;
  std::vector<size_t> kept;  // indexes of `encoded`'s messages
  size_t items = 0, bytes = 0;
  received_.fetch_add(batch->size());
  for (size_t i = 0; i < batch->size(); ++i) {
    const MqttMessage& msg = (*batch)[i];
    Taken& t = taken[i];
    const size_t size = msg.payload.size() + msg.topic.size();
    // Only this thread adds to the inbox: room found here for the batch so far is still
    // there below.
    t.room = pipeline_->inbox().HasRoom(items + 1, bytes + size);
    if (t.room) {
      ++items;
      bytes += size;
    }
    t.topic = device_protocol::ParseDeviceTopic(options_.verifier.topic_prefix, msg.topic);
    // A message that may become a record is on disk before its PUBACK (readings, install
    // and integrity reports). Key requests are retried by devices, and a message too large
    // or without a valid header is refused for sure (cheap checks that keep a flood of
    // garbage from costing a place in the synced write).
    const bool keep = t.room && t.topic.ok() && !msg.retained && msg.qos >= 1 &&
                      (t.topic->kind == device_protocol::TopicKind::kData ||
                       t.topic->kind == device_protocol::TopicKind::kIntegrity ||
                       t.topic->kind == device_protocol::TopicKind::kUpdateStatus ||
                       t.topic->kind == device_protocol::TopicKind::kAccount) &&
                      msg.payload.size() <= options_.verifier.max_payload_bytes &&
                      device_protocol::ParseDeviceHeader(msg.user_properties).ok();
    if (keep) {
      encoded.push_back(EncodeMessage(msg));
      kept.push_back(i);
    }
  }
  if (!encoded.empty()) {
    auto first = intake_->PutBatch(encoded, options_.intake_sync);
    for (size_t j = 0; j < kept.size(); ++j) {
      Taken& t = taken[kept[j]];
      if (first.ok()) {
        t.key = *first + j;
      } else {
        t.room = false;
        t.refusal = kNotStored;
      }
    }
    if (!first.ok()) {
      const uint64_t before = intake_failures_.fetch_add(kept.size());
      if (before / 100 != (before + kept.size()) / 100 || before == 0) {
        LogError("intake_write_failed")
            .Kv("failures", before + kept.size())
            .Kv("err", first.status().ToString());
      }
    }
  }
  test_seams::ConsumerSeam(test_seams::ConsumerPhase::kIntakeWritten, consumed_);
  for (size_t i = 0; i < batch->size(); ++i) {
    MqttMessage& msg = (*batch)[i];
    Taken& t = taken[i];
    if (t.room) {
      Inbound in{std::move(msg), NowMs(), t.key};
      if (pipeline_->inbox().Push(in).ok()) continue;
      msg = std::move(in.msg);  // closed by Stop: answered below
    }
    // Full (or not storable): never block the consumer thread and never hold more than the
    // limits in memory. The device is told (`internal`: nothing recorded, send it again) and
    // the drop is counted.
    dropped_.fetch_add(1);
    if (!t.topic.ok() || msg.retained) continue;
    if (t.topic->kind == device_protocol::TopicKind::kKey) continue;  // the device retries
    std::optional<uint64_t> seq = device_protocol::FindParsableSeq(msg.user_properties);
    Publish(device_protocol::ErrorTopic(options_.verifier.topic_prefix, *t.topic),
            device_protocol::ErrorJson(device_protocol::DeviceError::kInternal, t.refusal, seq,
                                       t.topic->item, std::nullopt),
            /*retained=*/false, /*settles=*/{}, /*may_wait=*/false);
  }
}

void Bridge::Publish(const std::string& topic, const std::string& json, bool retained,
                     std::vector<uint64_t> settles, bool may_wait) {
  publisher_->Publish(Answer{topic, json, retained, std::move(settles)},
                      std::chrono::milliseconds(may_wait ? options_.drain_timeout_ms : 0));
}

void Bridge::RemoveFromOutbox(const std::vector<uint64_t>& keys) {
  if (keys.empty()) return;
  Status s = outbox_->Remove(keys);
  if (!s.ok()) LogWarn("outbox_remove_failed").Kv("err", s.ToString());
}

void Bridge::StatsLoop(Worker& w) {
  BridgeStats last;
  while (!w.stopping()) {
    w.Sleep(options_.stats_interval_ms);
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
        .Kv("appraised", s.appraised)
        .Kv("mqtt_connected", (consumer_ ? consumer_->connected() : mqtt_->connected()) ? 1 : 0);
    last = s;
  }
}

}  // namespace provledger::bridge
