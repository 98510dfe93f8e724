// BatchSubmitter: takes accepted readings out of the Outbox in batches, signs each batch
// with the gateway key, submits it to the ledger (LedgerClient fails over between nodes) and
// answers every reading from the node's answer: committed and duplicate ones go to the
// AckAggregator, which releases one acknowledgement per device, item and block once the
// block is complete; conflicting and refused ones are answered at once. An answered entry
// leaves the outbox only once the broker has acknowledged its answer (AnswerPublisher).
//
// When a batch leaves is BatchCut's rule: at once to an idle ledger or when full, else once
// the batch in flight is answered (a second short one beside it after batch_timeout_ms);
// full batches up to submit_workers in flight.
//
// Transient failures (ClassifySubmitFailure) are retried with backoff; a batch refused as a
// whole for good is split in halves, and a single record so refused is answered with its
// device error and dropped.
//
// Thread rules: the constructor starts `submit_workers` threads; Wake() and the counters
// from any thread; Stop() (also the destructor) from the owner's thread: a submission in
// flight finishes, then the threads join.
#ifndef PROVLEDGER_MQTT_BRIDGE_BATCH_SUBMITTER_H_
#define PROVLEDGER_MQTT_BRIDGE_BATCH_SUBMITTER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/ledger_client.h"
#include "common/ecdsa.h"
#include "common/status.h"
#include "common/worker.h"
#include "mqtt-bridge/ack_aggregator.h"
#include "mqtt-bridge/answer_publisher.h"
#include "mqtt-bridge/batch_cut.h"
#include "mqtt-bridge/device_directory.h"
#include "mqtt-bridge/outbox.h"
#include "proto/ledger.pb.h"

namespace provledger::bridge {

struct BatchSubmitterOptions {
  std::string chain_id;
  std::string gateway_id;
  std::string topic_prefix;
  size_t max_batch_records = 1000;    // records per submitted batch
  size_t max_batch_bytes = 16 << 20;  // ... and bytes (records + payloads), >= 1 record
  // A short batch waits this long for the one batch in flight to be answered, then leaves
  // beside it (BatchCut).
  uint32_t batch_timeout_ms = 100;
  size_t submit_workers = 4;        // batches in flight towards the ledger, at most
  uint32_t answer_wait_ms = 10000;  // wait for room in the answer queue
};

class BatchSubmitter {
 public:
  // Every pointer must outlive the submitter. `devices` tells whether a device is still
  // registered when a whole batch was refused for good.
  BatchSubmitter(BatchSubmitterOptions options, const PrivateKey& gateway_key, Outbox* outbox,
                 client::LedgerClient* ledger, const DeviceDirectory* devices,
                 AnswerPublisher* publisher);
  ~BatchSubmitter() { Stop(); }

  // New entries are in the outbox: a waiting worker looks at once.
  void Wake();
  // Stops and joins the workers (a submission in flight finishes). Idempotent.
  void Stop();

  uint64_t committed() const { return committed_.load(); }
  uint64_t submit_errors() const { return submit_errors_.load(); }
  uint64_t ledger_refused() const { return ledger_refused_.load(); }

 private:
  void SubmitLoop(Worker& w);
  // Reads the next entries not yet taken by another worker.
  StatusOr<std::vector<OutboxEntry>> TakeBatch(Worker& w);
  // The batch of `entries`, signed with the gateway key.
  StatusOr<provledger::v1::SignedBatch> SignBatch(const std::vector<OutboxEntry>& entries) const;
  // Submits one batch taken from the outbox (aggregator token `token`) until each of its
  // entries is answered, or the worker stops.
  void SubmitBatch(Worker& w, uint64_t token, std::vector<OutboxEntry> entries);
  // Takes the node's answer for `entries`: committed ones go to the aggregator (acks leave
  // once their block is complete), refused and conflicting ones are answered at once.
  void Acknowledge(uint64_t token, const std::vector<OutboxEntry>& entries,
                   const provledger::v1::SubmitResponse& resp);
  // Answers a reading the ledger refused for good (`per_record`: in a RecordResult; else
  // its one-record batch was refused as a whole): `unauth`/unregistered for a device not
  // registered or revoked, `too_large`, or `internal`.
  void AnswerRefused(const OutboxEntry& e, StatusCode code, const std::string& reason,
                     bool per_record);
  // Queues the acks (caller holds ack_mu_).
  void PublishAcks(std::vector<BlockAck> acks);
  void RemoveFromOutbox(const std::vector<uint64_t>& keys);
  // Queues an answer; `settles`: outbox keys it settles once the broker has it.
  void Publish(const std::string& topic, const std::string& json, bool retained = false,
               std::vector<uint64_t> settles = {});

  const BatchSubmitterOptions options_;
  const PrivateKey& gateway_key_;
  Outbox* const outbox_;
  client::LedgerClient* const ledger_;
  const DeviceDirectory* const devices_;
  AnswerPublisher* const publisher_;

  std::mutex take_mu_;
  std::condition_variable take_cv_;
  uint64_t cursor_ = 0;  // guarded by take_mu_: highest outbox key handed to a worker
  BatchCut cut_;         // guarded by take_mu_

  std::mutex ack_mu_;
  AckAggregator acks_;  // guarded by ack_mu_

  std::atomic<uint64_t> committed_{0}, submit_errors_{0}, ledger_refused_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_BATCH_SUBMITTER_H_
