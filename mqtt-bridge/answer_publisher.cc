#include "mqtt-bridge/answer_publisher.h"

#include <algorithm>
#include <iterator>
#include <thread>
#include <utility>

#include "common/log.h"

namespace provledger::bridge {

namespace {
constexpr int kMinBackoffMs = 50;
constexpr int kMaxBackoffMs = 2000;
}  // namespace

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

void AnswerPublisher::SendPending() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_send_) return;
  while (!to_send_.empty()) {
    Answer& a = to_send_.front();
    auto r = connection_->PublishTracked(a.topic, a.payload, 1, a.retained);
    if (!r.ok()) {
      // Transient (not connected, too many unacknowledged): the same answer, later.
      const uint64_t n = handoff_failures_.fetch_add(1) + 1;
      backoff_ms_ = std::clamp(backoff_ms_ * 2, kMinBackoffMs, kMaxBackoffMs);
      next_send_ = now + std::chrono::milliseconds(backoff_ms_);
      if (n % 1000 == 1) {
        LogWarn("answer_publish_failed")
            .Kv("topic", a.topic)
            .Kv("failures", n)
            .Kv("waiting", to_send_.size())
            .Kv("retry_ms", backoff_ms_)
            .Kv("err", r.status().ToString());
      }
      return;
    }
    backoff_ms_ = 0;
    in_flight_.push_back(InFlight{std::move(a), *r});
    to_send_.pop_front();
  }
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
      case PublishReceipt::State::kRefused: {
        // Permanent (the broker's ACL, a topic it will not take): published again it gets
        // the same answer, so its outbox entries are settled; the device hears nothing.
        settled->insert(settled->end(), f.answer.settles.begin(), f.answer.settles.end());
        const uint64_t n = refused_.fetch_add(1) + 1;
        if (n <= 10 || n % 1000 == 0) {
          LogError("answer_refused")
              .Kv("topic", f.answer.topic)
              .Kv("reason", f.receipt.reason_code())
              .Kv("refused", n)
              .Kv("settles", f.answer.settles.size())
              .Kv("detail", "the broker refused this answer; not published again");
        }
        break;
      }
      case PublishReceipt::State::kFailed:
        again.push_back(std::move(f.answer));
        break;
    }
  }
  in_flight_.swap(pending);
  if (!again.empty()) {
    // Given up unacknowledged: the broker never had them, so their devices would never
    // hear. Sent again, before the answers not handed over yet (they were queued earlier).
    const uint64_t before = republished_.fetch_add(again.size());
    if (before == 0 || before / 1000 != (before + again.size()) / 1000) {
      LogWarn("answers_republished")
          .Kv("answers", again.size())
          .Kv("republished", before + again.size())
          .Kv("detail", "the broker never acknowledged them; sent again");
    }
    to_send_.insert(to_send_.begin(), std::make_move_iterator(again.begin()),
                    std::make_move_iterator(again.end()));
  }
}

void AnswerPublisher::Loop(Worker& w) {
  std::vector<Answer> batch;
  std::vector<uint64_t> settled;
  std::chrono::steady_clock::time_point stop_deadline{};
  while (true) {
    // Poll the answers in flight often while there are some; take new ones only while
    // fewer than max_in_flight are outstanding (the rest wait in the bounded queue).
    const size_t outstanding = in_flight_.size() + to_send_.size();
    const bool busy = outstanding > 0;
    if (outstanding < options_.max_in_flight) {
      queue_.PopBatch(options_.max_in_flight - outstanding,
                      std::chrono::milliseconds(busy ? 10 : 100), &batch);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (Answer& a : batch) to_send_.push_back(std::move(a));
    batch.clear();
    SendPending();
    // An outbox entry leaves only once the broker has acknowledged (or refused) this very
    // answer: killed before that, the bridge resubmits it after the restart and the
    // ledger's duplicate answer is acknowledged again.
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
      if (in_flight_.empty() && to_send_.empty()) return;
      if (now >= stop_deadline) {
        LogWarn("answers_not_acknowledged")
            .Kv("answers", in_flight_.size() + to_send_.size())
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
