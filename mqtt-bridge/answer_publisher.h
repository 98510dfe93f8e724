// AnswerPublisher: the only sender of the bridge's answers (acks, refusals, key replies,
// shared sessions), on a connection of its own (the answer connection), so that answers
// still leave after consumption has stopped. Answers leave in the order they were queued.
// An answer may settle outbox entries: those keys are handed to `settle` only once the
// broker has acknowledged that very answer (PUBACK), so a bridge killed with answers in
// memory answers those readings again after its restart. An answer the client gives up on
// unacknowledged (kFailed) is published again, so a running bridge loses no answer the broker
// never took. An answer the broker REFUSED (PUBACK reason >= 0x80, e.g. its ACL denies the
// topic) is settled and never published again: the same answer gets the same refusal. It is
// counted (refused()) and logged as `answer_refused`. An answer the connection would not take
// (not connected, too many unacknowledged) is handed over again after a backoff (50 ms
// doubling to 2 s), in order. At most max_in_flight answers are handed over unacknowledged;
// beyond that they wait in the queue (and Publish waits for room).
//
// The queue is bounded (items and bytes). When it is full, Publish waits up to `wait` for
// room (worker threads: backpressure, the publisher drains at the broker's pace); an answer
// still not queued is counted (not_queued()) and logged as `answer_not_queued`, never
// dropped silently: its outbox entries stay and are answered again after the next restart,
// and a device left without an answer sends its reading again (PROTOCOL.md 5).
//
// Thread rules: Publish and not_queued from any thread; Stop from the owner's thread once no
// other thread publishes. `settle` runs on the publisher thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_ANSWER_PUBLISHER_H_
#define PROVLEDGER_MQTT_BRIDGE_ANSWER_PUBLISHER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bounded_queue.h"
#include "common/mqtt_client.h"
#include "common/worker.h"

namespace provledger::bridge {

struct Answer {
  std::string topic;
  std::string payload;
  bool retained = false;
  std::vector<uint64_t> settles;  // outbox keys to remove once the broker has it
};

struct AnswerPublisherOptions {
  size_t max_answers = 200000;      // answers queued ...
  size_t max_bytes = 64 << 20;      // ... and their bytes
  uint32_t ack_timeout_ms = 10000;  // wait for the broker's PUBACKs at Stop
  size_t max_in_flight = 10000;     // answers handed to the connection, not yet acknowledged
};

class AnswerPublisher {
 public:
  // Starts the publisher thread on `connection` (connected, QoS 1 publishes).
  AnswerPublisher(std::unique_ptr<MqttClient> connection, AnswerPublisherOptions options,
                  std::function<void(const std::vector<uint64_t>&)> settle);
  ~AnswerPublisher() { Stop(); }

  // Queues `answer` (QoS 1), waiting up to `wait` for room. false when it was not queued
  // (full after `wait`, or stopped): counted and logged.
  bool Publish(Answer answer, std::chrono::milliseconds wait);

  // Sends every answer queued so far, waits up to ack_timeout_ms for the broker's
  // acknowledgements and disconnects. Idempotent.
  void Stop();

  uint64_t not_queued() const { return not_queued_.load(); }
  // Answers published again because the client gave them up unacknowledged.
  uint64_t republished() const { return republished_.load(); }
  // Answers the broker refused (settled, never published again).
  uint64_t refused() const { return refused_.load(); }
  // Hand-offs the connection did not take (each retried after a backoff).
  uint64_t handoff_failures() const { return handoff_failures_.load(); }

 private:
  struct InFlight {
    Answer answer;
    PublishReceipt receipt;
  };
  void Loop(Worker& w);
  // Hands the answers of to_send_ to the connection in order, until one is not taken (then
  // they wait for the backoff).
  void SendPending();
  // Moves the settles of acknowledged and refused answers to `settled`; queues answers the
  // client gave up on to be sent again.
  void Reap(std::vector<uint64_t>* settled);

  std::unique_ptr<MqttClient> connection_;  // publisher thread, then Stop
  AnswerPublisherOptions options_;
  std::function<void(const std::vector<uint64_t>&)> settle_;
  BoundedQueue<Answer> queue_;
  std::atomic<uint64_t> not_queued_{0};
  std::atomic<uint64_t> republished_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> handoff_failures_{0};
  // Publisher thread only:
  std::deque<InFlight> in_flight_;  // handed over, in publish order
  std::deque<Answer> to_send_;      // not handed over yet, in order
  std::chrono::steady_clock::time_point next_send_{};
  int backoff_ms_ = 0;
  std::unique_ptr<Worker> worker_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_ANSWER_PUBLISHER_H_
