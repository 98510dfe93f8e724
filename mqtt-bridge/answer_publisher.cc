#include "mqtt-bridge/answer_publisher.h"

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

void AnswerPublisher::Loop(Worker& w) {
  std::vector<Answer> batch;
  std::vector<uint64_t> settled;
  while (true) {
    queue_.PopBatch(SIZE_MAX, std::chrono::milliseconds(100), &batch);
    bool all_sent = true;
    for (Answer& a : batch) {
      Status s = connection_->Publish(a.topic, a.payload, 1, a.retained);
      if (!s.ok()) {
        all_sent = false;
        LogWarn("answer_publish_failed").Kv("topic", a.topic).Kv("err", s.ToString());
      }
      settled.insert(settled.end(), a.settles.begin(), a.settles.end());
    }
    batch.clear();
    if (!settled.empty()) {
      // An outbox entry leaves only once the broker holds its answer: killed before that,
      // the bridge resubmits it after the restart and the ledger's duplicate answer is
      // acknowledged again. Unconfirmed answers keep their entries until then.
      Status acked = all_sent ? connection_->WaitForPublishes(options_.ack_timeout_ms)
                              : UnavailableError("an answer could not be published");
      if (acked.ok()) {
        settle_(settled);
      } else {
        LogWarn("answers_unconfirmed")
            .Kv("readings", settled.size())
            .Kv("detail", "kept in the outbox; answered again after the next restart")
            .Kv("err", acked.ToString());
      }
      settled.clear();
    }
    // Closed by Stop: answers queued before it still go out.
    if (w.stopping() && queue_.closed() && queue_.empty()) return;
  }
}

void AnswerPublisher::Stop() {
  if (!worker_) return;
  worker_->set_on_stop([this] { queue_.Close(); });
  worker_.reset();  // sends what is queued, then joins
  Status s = connection_->WaitForPublishes(options_.ack_timeout_ms);
  if (!s.ok()) LogWarn("answers_not_acknowledged").Kv("err", s.ToString());
  connection_->Disconnect();
}

}  // namespace provledger::bridge
