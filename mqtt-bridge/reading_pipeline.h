// ReadingPipeline: the bridge's verify thread. It takes messages from the bounded inbox (fed
// by the MQTT callback after the intake write) in chunks and, for each: installs sessions
// shared by other bridges of the group, answers key requests (SessionKeyStore through the
// ReadingVerifier), verifies readings, integrity reports and install reports
// (ReadingVerifier), appraises integrity reports (Appraise, against the PolicySource's
// policy, with the IntegrityTracker's counts) into attestation records, applies the write
// policy (PolicyFilter) and builds the ledger records. A chunk's records, replay windows,
// policy state, integrity state and intake watermark go to the Outbox in one synced batch;
// refusals are answered at once. A reading verified after a report in the same chunk
// already carries that report's status. After a stored batch `on_accepted` tells the submitter.
//
// Thread rules: the constructor starts the verify thread, which alone uses the verifier,
// session store, integrity tracker and policy filter; inbox() and the counters from any thread;
// Stop() (also the destructor) from the owner's thread once no more messages arrive: the inbox is
// drained (every message verified or answered), then the thread joins.
#ifndef PROVLEDGER_MQTT_BRIDGE_READING_PIPELINE_H_
#define PROVLEDGER_MQTT_BRIDGE_READING_PIPELINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bounded_queue.h"
#include "common/mqtt_client.h"
#include "common/worker.h"
#include "mqtt-bridge/answer_publisher.h"
#include "mqtt-bridge/intake.h"
#include "mqtt-bridge/integrity_policies.h"
#include "mqtt-bridge/integrity_state.h"
#include "mqtt-bridge/outbox.h"
#include "mqtt-bridge/policy_filter.h"
#include "mqtt-bridge/reading_verifier.h"
#include "mqtt-bridge/session_key_store.h"
#include "mqtt-bridge/session_share.h"

namespace provledger::bridge {

// A message taken in from the broker.
struct Inbound {
  MqttMessage msg;
  uint64_t received_ms = 0;
  uint64_t intake_key = 0;  // its Intake key; 0 when not kept there
};

struct ReadingPipelineOptions {
  std::string gateway_id;
  std::string topic_prefix;
  size_t inbox_capacity = 200000;           // messages ...
  size_t inbox_capacity_bytes = 256 << 20;  // ... and their bytes (topic + payload)
  uint32_t answer_wait_ms = 10000;          // wait for room in the answer queue
};

class ReadingPipeline {
 public:
  // Every pointer must outlive the pipeline; `share` may be null (no session sharing).
  // `integrity` must be the IntegrityDirectory the verifier reads.
  ReadingPipeline(ReadingPipelineOptions options, ReadingVerifier* verifier,
                  SessionKeyStore* sessions, PolicyFilter* policy, SessionShare* share,
                  IntegrityTracker* integrity, const PolicySource* policies, Outbox* outbox,
                  Intake* intake, AnswerPublisher* publisher, std::function<void()> on_accepted);
  ~ReadingPipeline() { Stop(); }

  // Where messages enter (Push: kResourceExhausted when full, kFailedPrecondition once
  // stopped).
  BoundedQueue<Inbound>& inbox() { return inbox_; }
  // Closes the inbox, verifies what is left in it, joins. Idempotent.
  void Stop();

  uint64_t ignored() const { return ignored_.load(); }
  uint64_t refused() const { return refused_.load(); }
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t skipped() const { return skipped_.load(); }
  uint64_t shared_sessions() const { return shared_sessions_.load(); }
  uint64_t appraised() const { return appraised_.load(); }  // integrity reports

 private:
  void VerifyLoop(Worker& w);
  void HandleChunk(std::vector<Inbound>* chunk);
  void Publish(const std::string& topic, const std::string& json, bool retained = false);
  // The attestation record (kind 2) of an accepted report; records the appraisal in the
  // tracker.
  Bytes AppraiseReport(const Accepted& a);

  const ReadingPipelineOptions options_;
  ReadingVerifier* const verifier_;
  SessionKeyStore* const sessions_;
  PolicyFilter* const policy_;
  SessionShare* const share_;
  IntegrityTracker* const integrity_;
  const PolicySource* const policies_;
  Outbox* const outbox_;
  Intake* const intake_;
  AnswerPublisher* const publisher_;
  const std::function<void()> on_accepted_;
  BoundedQueue<Inbound> inbox_;
  std::atomic<uint64_t> ignored_{0}, refused_{0}, accepted_{0}, skipped_{0}, shared_sessions_{0},
      appraised_{0};
  std::unique_ptr<Worker> worker_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_READING_PIPELINE_H_
