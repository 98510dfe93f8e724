#include "mqtt-bridge/answer_publisher.h"

#include <thread>
#include <utility>

#include "common/log.h"

namespace provledger::bridge {

AnswerPublisher::AnswerPublisher(std::unique_ptr<MqttClient> connection,
                                 AnswerPublisherOptions options,
                                 std::function<void(const std::vector<uint64_t>&)> settle)
    : connection_(std::move(connection)),
      options_(options),
      settle_(std::move(settle)),
      queue_(options.max_answers, options.max_bytes, [](const Answer& a) {
        return a.topic.size() + a.payload.size() + a.settles.size() * sizeof(uint64_t);
      }) {
  worker_ = std::make_unique<Worker>("publish", [this](Worker& w) { Loop(w); });
}

bool AnswerPublisher::Publish(Answer answer, std::chrono::milliseconds wait) {
  Status s = queue_.Push(answer, wait);
  if (s.ok()) return true;
  const uint64_t n = not_queued_.fetch_add(1) + 1;
  if (n % 100 == 1) {
    LogError("answer_not_queued")
        .Kv("topic", answer.topic)
        .Kv("not_queued", n)
        .Kv("settles", answer.settles.size())
        .Kv("detail", "answers queue full; its readings are answered again after a restart")
        .Kv("err", s.ToString());
  }
  return false;
}

void AnswerPublisher::Send(Answer a) {
  auto r = connection_->PublishTracked(a.topic, a.payload, 1, a.retained);
  if (!r.ok() && publish_failures_++ % 1000 == 0) {
    LogWarn("answer_publish_failed").Kv("topic", a.topic).Kv("err", r.status().ToString());
  }
  // Not handed to Paho: a receipt with no token reads as failed, so it is sent again.
  in_flight_.push_back(InFlight{std::move(a), r.ok() ? *r : PublishReceipt{}});
}

void AnswerPublisher::Reap(std::vector<uint64_t>* settled) {
  std::vector<Answer> again;
  std::deque<InFlight> pending;
  for (InFlight& f : in_flight_) {
    switch (f.receipt.state()) {
      case PublishReceipt::State::kPending:
        pending.push_back(std::move(f));
        break;
      case PublishReceipt::State::kDelivered:
        settled->insert(settled->end(), f.answer.settles.begin(), f.answer.settles.end());
        break;
      case PublishReceipt::State::kFailed:
        again.push_back(std::move(f.answer));
        break;
    }
  }
  in_flight_.swap(pending);
  if (!again.empty()) {
    // Paho dropped them unacknowledged (it discards its in-flight publishes when the broker
    // says it has no session for us, e.g. a broker that lost its store): the broker never
    // had them, so their devices would never hear. Sent again, in their order.
    const uint64_t before = republished_.fetch_add(again.size());
    if (before == 0 || before / 1000 != (before + again.size()) / 1000) {
      LogWarn("answers_republished")
          .Kv("answers", again.size())
          .Kv("republished", before + again.size())
          .Kv("detail", "the broker never acknowledged them; sent again");
    }
    for (Answer& a : again) Send(std::move(a));
  }
}

void AnswerPublisher::Loop(Worker& w) {
  std::vector<Answer> batch;
  std::vector<uint64_t> settled;
  std::chrono::steady_clock::time_point stop_deadline{};
  while (true) {
    // Poll the answers in flight often while there are some.
    queue_.PopBatch(SIZE_MAX, std::chrono::milliseconds(in_flight_.empty() ? 100 : 10), &batch);
    for (Answer& a : batch) Send(std::move(a));
    batch.clear();
    // An outbox entry leaves only once the broker has acknowledged this very answer:
    // killed before that, the bridge resubmits it after the restart and the ledger's
    // duplicate answer is acknowledged again.
    Reap(&settled);
    if (!settled.empty()) {
      settle_(settled);
      settled.clear();
    }
    // Closed by Stop: answers queued before it still go out, and are waited for up to
    // ack_timeout_ms; those still unconfirmed keep their outbox entries.
    if (w.stopping() && queue_.closed() && queue_.empty()) {
      const auto now = std::chrono::steady_clock::now();
      if (stop_deadline == std::chrono::steady_clock::time_point{}) {
        stop_deadline = now + std::chrono::milliseconds(options_.ack_timeout_ms);
      }
      if (in_flight_.empty()) return;
      if (now >= stop_deadline) {
        LogWarn("answers_not_acknowledged")
            .Kv("answers", in_flight_.size())
            .Kv("detail", "kept in the outbox; answered again after the next restart");
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // PopBatch no longer waits
    }
  }
}

void AnswerPublisher::Stop() {
  if (!worker_) return;
  worker_->set_on_stop([this] { queue_.Close(); });
  worker_.reset();  // sends what is queued, waits for its acknowledgements, then joins
  connection_->Disconnect();
}

}  // namespace provledger::bridge
