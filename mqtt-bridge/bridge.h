// Bridge: wires the parts of the MQTT bridge and holds none of their logic:
//   MqttConsumer, the consumer connection, and the consumer thread (ConsumeLoop): it takes
//      every message received, up to intake_batch_messages / intake_batch_bytes, as one
//      batch (TakeIn: the readings and reports among them written to the Intake in one
//      synced write, then into the bounded inbox) and only then sends their PUBACKs, so the
//      broker forgets no message before it is on disk (mqtt_consumer.h). With
//      consumer = kLibrary, MqttClient's callback takes in one message at a time instead,
//      its PUBACK queued before (mqtt_client.h; docs/RELIABILITY.md finding 7).
//   -> ReadingPipeline, the verify thread (ReadingVerifier, PolicyFilter, the integrity
//      appraisal against LedgerPolicyDirectory's policies into IntegrityTracker; builds records;
//      one synced Outbox batch per chunk with replay windows, policy state and the chunk's
//      intake watermark; answers refusals at once)
//   -> BatchSubmitter, the submit workers (read the Outbox, sign batches with the gateway
//      key, submit with failover, split and retry; AckAggregator releases one ack per
//      device, item and block once the block is complete)
//   -> AnswerPublisher, the only thread that publishes, on a second MQTT connection (the
//      answer connection), so that answers still leave after consumption has stopped; an
//      answered outbox entry is removed once the broker acknowledged its answer.
//
// Stop (SIGTERM): the consumer disconnects first (the batch in hand is written and
// acknowledged; no message is taken after `bridge_stopping`; the broker keeps the rest for the
// persistent session), the inbox is verified into the outbox or answered, the submit workers settle
// the outbox for up to drain_timeout_ms (a submission in flight finishes), every answer is
// published and acknowledged by the broker, and only then does the answer connection close. What is
// left in the outbox or intake is settled after the next Start.
//
// Thread rules: Start(), Stop() and the destructor from one thread; stats() from any.
#ifndef PROVLEDGER_MQTT_BRIDGE_BRIDGE_H_
#define PROVLEDGER_MQTT_BRIDGE_BRIDGE_H_

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "client/ledger_client.h"
#include "common/bounded_queue.h"
#include "common/ecdsa.h"
#include "common/mqtt_client.h"
#include "common/mqtt_consumer.h"
#include "common/worker.h"
#include "mqtt-bridge/answer_publisher.h"
#include "mqtt-bridge/batch_submitter.h"
#include "mqtt-bridge/firmware_publisher.h"
#include "mqtt-bridge/intake.h"
#include "mqtt-bridge/integrity_policies.h"
#include "mqtt-bridge/integrity_state.h"
#include "mqtt-bridge/ledger_directory.h"
#include "mqtt-bridge/outbox.h"
#include "mqtt-bridge/policy_filter.h"
#include "mqtt-bridge/reading_pipeline.h"
#include "mqtt-bridge/reading_verifier.h"
#include "mqtt-bridge/session_key_store.h"
#include "mqtt-bridge/session_share.h"

namespace provledger::bridge {

struct BridgeOptions {
  std::string broker_uri = "tcp://127.0.0.1:1883";
  MqttSecurity broker_security;  // TLS files, username and password for the broker
  std::string
      client_id;  // empty: "pl-bridge-<gateway>"; a second bridge of one gateway needs its own
  std::string share_group;  // non-empty: subscribe through $share/<group>/...
  Bytes share_secret;       // 32 bytes, the same on every bridge of the group: sessions are shared
  std::string gateway_id;
  std::vector<std::string> nodes;  // ledger node addresses (failover in order)
  std::string data_dir;            // the outbox lives in <data_dir>/outbox
  ReadingVerifierOptions verifier;
  SessionKeyOptions sessions;
  std::map<std::string, WritePolicy> policies;  // per item; others: all
  size_t max_batch_records = 1000;              // records per submitted batch
  size_t max_batch_bytes = 16 << 20;            // ... and bytes (records + payloads), >= 1 record
  // A short batch leaves once the batch in flight is answered, or after this long (BatchCut).
  uint32_t batch_timeout_ms = 100;
  size_t submit_workers = 4;                // batches in flight towards the ledger, at most
  size_t inbox_capacity = 200000;           // messages between the MQTT client and the verifier ...
  size_t inbox_capacity_bytes = 256 << 20;  // ... and their bytes; beyond: `internal`, counted
  uint32_t registry_refresh_ms = 1000;
  uint32_t stats_interval_ms = 10000;
  // Deadline of one batch's submission to one node (it waits for the commit). Size it to the
  // nodes' --view_change_timeout_ms (default 2000): ~3x lets a commit ride out one view
  // change; past it the batch goes to the next node (duplicates are answered, not recorded).
  uint32_t submit_timeout_ms = 6000;
  uint32_t read_timeout_ms = 2000;  // deadline of a read (registry, history) on one node
  // At start: how long the bridge waits for a node to answer, for its gateway's registration
  // to be known to one of the nodes (it may not have reached the first one asked yet), and
  // for the device list, before it gives up (mqtt-bridge/startup_wait.h).
  uint32_t startup_timeout_ms = 30000;
  // On Stop: how long submit workers may go on settling the outbox, and answers wait for
  // the broker's acknowledgement, before the bridge exits anyway (the rest is settled
  // after the next Start).
  uint32_t drain_timeout_ms = 10000;
  // Before the PUBACK a reading is synced to disk (survives a power loss; one fsync per batch
  // of received messages on the consumer thread). false: only written to RocksDB's WAL
  // (survives the bridge process dying, not the machine) and synced with the next batch.
  bool intake_sync = true;
  // Which MQTT client consumes: kAcked, MqttConsumer (PUBACK after the batch's intake write);
  // kLibrary, libmosquitto's MqttClient (PUBACK before the intake write, one synced write
  // per message), kept for one release.
  enum class Consumer { kAcked, kLibrary };
  Consumer consumer = Consumer::kAcked;
  // One batch of the consumer thread, at most (the first message whatever its size).
  size_t intake_batch_messages = 256;
  size_t intake_batch_bytes = 4 << 20;
  // Publish the newest recorded firmware manifest of each vendor and model, retained, on
  // update/code of each of its devices (FirmwarePublisher), polled every registry_refresh_ms.
  bool publish_firmware = true;
  Status Validate() const;
};

struct BridgeStats {
  uint64_t received = 0;
  uint64_t dropped = 0;  // inbox full
  uint64_t ignored = 0;  // retained or invalid topic: no answer (PROTOCOL.md 3)
  uint64_t refused = 0;
  uint64_t accepted = 0;
  uint64_t skipped = 0;  // left off by the write policy
  uint64_t committed = 0;
  uint64_t outbox = 0;  // accepted, not yet confirmed by the ledger
  uint64_t submit_errors = 0;
  uint64_t shared_sessions = 0;     // sessions installed from other bridges of the group
  uint64_t appraised = 0;           // integrity reports appraised
  uint64_t ledger_refused = 0;      // readings the ledger refused for good, answered and dropped
  uint64_t answers_not_queued = 0;  // answers the full answer queue did not take (logged)
  uint64_t answers_refused = 0;     // answers the broker refused (settled, logged)
};

class Bridge {
 public:
  // Opens the outbox, restores replay windows and write-policy state, queues the intake
  // left by the last run for verification, reads the registry from the ledger, connects to
  // the broker and starts the threads; outbox entries left by the last run are submitted
  // again and acknowledged (the ledger answers them as duplicates with their location).
  // Errors name what could not start.
  static StatusOr<std::unique_ptr<Bridge>> Start(BridgeOptions options, PrivateKey gateway_key);
  // Stops consuming, drains and publishes the answers, in the order the class comment
  // gives; logs `bridge_stopping` once consumption has stopped and `bridge_stopped` at the
  // end. Idempotent; the destructor calls it.
  void Stop();
  ~Bridge();
  BridgeStats stats() const;

 private:
  Bridge(BridgeOptions options, PrivateKey gateway_key);
  void OnMessage(MqttMessage msg);  // the library consumer's callback
  void ConsumeLoop(Worker& w);      // the acked consumer's thread
  // Takes in received messages as one batch: counts them, checks the inbox's room, writes
  // those that may become records to the intake in one write, queues them for the verify
  // thread, and answers `internal` what finds no room or cannot be stored. Never blocks on
  // the inbox or the answer queue. The messages are moved from.
  void TakeIn(std::vector<MqttMessage>* batch);
  void StatsLoop(Worker& w);
  void RemoveFromOutbox(const std::vector<uint64_t>& keys);
  // Queues an answer for the AnswerPublisher (QoS 1). `settles`: outbox keys the answer
  // settles, removed only after the broker acknowledged it, so a bridge killed with answers
  // still in memory answers those readings again after its restart. Waits for room in the
  // answer queue up to drain_timeout_ms, except on the consumer's thread (`may_wait` false),
  // which never blocks; an answer not queued is counted and logged by the publisher.
  void Publish(const std::string& topic, const std::string& json, bool retained = false,
               std::vector<uint64_t> settles = {}, bool may_wait = true);

  BridgeOptions options_;
  PrivateKey gateway_key_;
  std::string chain_id_;
  std::unique_ptr<client::LedgerClient> ledger_;
  std::unique_ptr<LedgerDeviceDirectory> devices_;
  IntegrityTracker integrity_;  // the pipeline's verify thread only (after Start)
  std::unique_ptr<LedgerPolicyDirectory> policies_;
  std::unique_ptr<SessionKeyStore> sessions_;  // the pipeline's verify thread only
  std::unique_ptr<ReadingVerifier> verifier_;  // the pipeline's verify thread only
  std::unique_ptr<PolicyFilter> policy_;       // the pipeline's verify thread only
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Intake> intake_;       // written by the consumer (TakeIn) only
  std::unique_ptr<SessionShare> share_;  // set when bridges of a group share sessions
  // The consumer connection (persistent session): one of the two, by options_.consumer.
  std::unique_ptr<MqttConsumer> consumer_;
  std::unique_ptr<MqttClient> mqtt_;
  std::unique_ptr<Worker> consumer_worker_;  // ConsumeLoop
  uint64_t consumed_ = 0;                    // messages ConsumeLoop received (its thread)
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> intake_failures_{0};

  std::atomic<uint64_t> received_{0}, dropped_{0};
  std::unique_ptr<ReadingPipeline> pipeline_;  // inbox -> verify thread -> outbox
  std::unique_ptr<BatchSubmitter> submitter_;  // outbox -> ledger -> answers
  std::unique_ptr<Worker> stats_worker_;
  std::unique_ptr<AnswerPublisher> publisher_;   // the only sender of answers
  std::unique_ptr<FirmwarePublisher> firmware_;  // publishes through publisher_
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_BRIDGE_H_
