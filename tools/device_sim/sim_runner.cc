#include "tools/device_sim/sim_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "common/file_io.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/worker.h"
#include "device_protocol/account.h"
#include "device_protocol/key_agreement.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"
#include "tools/device_sim/device_answers.h"

namespace provledger::device_sim {

namespace {

constexpr size_t kAnswerQueueLimit = size_t{1} << 20;
constexpr size_t kInboxLimit = size_t{1} << 20;
constexpr uint64_t kRenewMarginMs = 300000;   // renew with less than the clock window left
constexpr size_t kBurst = 32;                 // readings in a row per device at --rate=0
constexpr double kUnregisteredRetryMs = 250;  // while the bridge catches up on registrations
constexpr uint64_t kVerboseWarnings = 5;      // then warnings are only counted
constexpr double kNever = std::numeric_limits<double>::infinity();

double SteadyMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A bounded FIFO from one thread to another; Push fails when full.
template <typename T>
class Inbox {
 public:
  explicit Inbox(size_t limit) : limit_(limit) {}
  bool Push(T v) {
    std::lock_guard<std::mutex> lock(mu_);
    if (q_.size() >= limit_) return false;
    q_.push_back(std::move(v));
    cv_.notify_one();
    return true;
  }
  // Waits up to timeout_ms for an item (or Wake()), then takes everything queued.
  std::deque<T> TakeAll(double timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double, std::milli>(std::max(timeout_ms, 0.0)),
                 [&] { return !q_.empty() || woken_; });
    woken_ = false;
    std::deque<T> out;
    out.swap(q_);
    return out;
  }
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }

 private:
  const size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;     // guarded by mu_
  bool woken_ = false;  // guarded by mu_
};

// Sent from the answer worker to the publisher owning the device.
struct Event {
  enum class Type { kKeyReply, kKeyRefused, kResend };
  Type type = Type::kKeyReply;
  size_t device = 0;
  std::string payload;         // kKeyReply
  std::string code;            // kKeyRefused, kResend
  std::optional<Bytes> nonce;  // kKeyRefused
  uint64_t old_seq = 0;        // kResend
  uint64_t index = 0;          // kResend
  double sent_ms = 0;          // kResend
};

// One simulated device; owned by one publisher worker.
struct Device {
  std::string name;
  std::unique_ptr<Signer> key;  // in memory or in a token; signs from this device's worker
  uint64_t next_index = 0;
  uint64_t next_seq = 1;
  double next_due = 0;
  std::optional<Session> session;
  double session_agreed_ms = 0;   // steady clock
  uint64_t session_renew_at = 0;  // wall clock
  std::optional<KeyAgreement> agreement;
  double key_deadline = 0;
  double key_retry_at = 0;                            // steady clock; after an early `unregistered`
  double resend_not_before = 0;                       // steady clock; after an early `unregistered`
  std::deque<std::pair<uint64_t, uint64_t>> resends;  // (refused seq, reading index)
  bool failed = false;                                // nothing more is published
  std::vector<SentMessage> sent;                      // kept for --replay_file, replay_after
  device_protocol::AccountChain chain;                // readings not yet in an account
  uint64_t since_account = 0;                         // readings added since the last account
  double account_due = 0;                             // steady clock; --account_interval_ms
};

// Prints the first few occurrences of a warning in full, then only counts them.
void Warn(std::atomic<uint64_t>* counter, const std::string& text) {
  if (counter->fetch_add(1) < kVerboseWarnings)
    std::fprintf(stderr, "device_sim: %s\n", text.c_str());
}

}  // namespace

struct SimRunner::Impl {
  SimOptions o;
  std::vector<Device> devices;
  std::vector<SentMessage> replay;
  GatewayTrust trust;
  std::map<std::string, size_t> device_index;  // immutable once Run starts
  size_t publishers = 0;
  std::vector<std::unique_ptr<Inbox<Event>>> inboxes;  // one per publisher
  std::unique_ptr<std::atomic<bool>[]> idle;           // one per publisher
  Inbox<MqttMessage> answers{kAnswerQueueLimit};
  std::mutex tracker_mu;
  AckTracker tracker;  // guarded by tracker_mu
  std::atomic<double> last_publish_ms{0};
  std::atomic<double> grace_until{0};  // steady clock: `unregistered` is retried before it
  std::set<std::string> resend_codes;  // the tracker's once the grace is over
  std::atomic<uint64_t> answers_seen{0}, answers_dropped{0}, bad_answers{0}, sessions{0};
  std::atomic<uint64_t> key_warnings{0}, publish_warnings{0}, events_dropped{0};
  std::atomic<uint64_t> accounts_sent{0}, accounts_recorded{0}, accounts_refused{0},
      account_warnings{0};
  std::unique_ptr<MqttClient> mqtt;  // declared last: gone before the queues

  bool replay_mode() const { return !o.replay_from.empty(); }
  bool keep_sent() const { return !o.replay_file.empty() || o.fault == Fault::kReplayAfter; }

  std::vector<std::string> Filters(const std::set<std::string>& names,
                                   const std::set<std::string>& items) const {
    std::vector<std::string> f;
    const std::string& p = o.topic_prefix;
    for (const std::string& d : o.wildcard_subscribe ? std::set<std::string>{"+"} : names) {
      f.push_back(device_protocol::KeySuccessTopic(p, d));
      f.push_back(device_protocol::KeyFailTopic(p, d));
      f.push_back(device_protocol::UnauthTopic(p, d));
      f.push_back(device_protocol::ForbiddenTopic(p, d));
      if (o.accounts()) {
        f.push_back(device_protocol::AccountSuccessTopic(p, d));
        f.push_back(device_protocol::AccountErrorTopic(p, d));
      }
      for (const std::string& i : o.wildcard_subscribe ? std::set<std::string>{"+"} : items) {
        f.push_back(device_protocol::DataDatasTopic(p, d, i));
        f.push_back(device_protocol::DataSuccessTopic(p, d, i));
        f.push_back(device_protocol::DataErrorTopic(p, d, i));
      }
    }
    return f;
  }

  void Post(size_t device, Event e) {
    if (device >= devices.size()) return;  // --replay_from: no publisher owns it
    e.device = device;
    if (!inboxes[device % publishers]->Push(std::move(e))) events_dropped.fetch_add(1);
  }

  void HandleAnswer(const MqttMessage& m) {
    if (m.retained) return;  // answers are never retained; a stale one is not ours
    StatusOr<AnswerTopic> t = ParseAnswerTopic(o.topic_prefix, m.topic);
    if (!t.ok()) return;
    auto it = device_index.find(t->device);
    if (it == device_index.end()) return;  // another simulator's device
    answers_seen.fetch_add(1);
    const double now = SteadyMs();
    if (t->kind == AnswerKind::kKeySuccess) {
      Event e;
      e.type = Event::Type::kKeyReply;
      e.payload = m.payload;
      Post(it->second, std::move(e));
      return;
    }
    if (t->kind == AnswerKind::kAccountSuccess) {
      // One ack per block covers every account of the device in it (its seqs).
      StatusOr<Ack> ack = ParseAck(m.payload);
      if (!ack.ok()) {
        Warn(&bad_answers, "unparsable ack on " + m.topic + ": " + ack.status().message());
        return;
      }
      accounts_recorded.fetch_add(ack->recorded ? ack->seqs.size() : 0);
      return;
    }
    if (t->kind == AnswerKind::kAccountError) {
      accounts_refused.fetch_add(1);
      Warn(&account_warnings, "account refused on " + m.topic + ": " + m.payload);
      return;
    }
    if (t->kind == AnswerKind::kDatas || t->kind == AnswerKind::kSuccess) {
      StatusOr<Ack> ack = ParseAck(m.payload);
      if (!ack.ok()) {
        Warn(&bad_answers, "unparsable ack on " + m.topic + ": " + ack.status().message());
        return;
      }
      std::lock_guard<std::mutex> lock(tracker_mu);
      tracker.OnAck(t->device, *ack, now);
      tracker.OnAckShape(t->device, t->item, t->kind == AnswerKind::kDatas, *ack);
      return;
    }
    StatusOr<ErrorAnswer> err = ParseErrorAnswer(m.payload);
    if (!err.ok()) {
      Warn(&bad_answers, "unparsable error on " + m.topic + ": " + err.status().message());
      return;
    }
    if (t->kind == AnswerKind::kKeyFail || err->nonce.has_value()) {
      Event e;
      e.type = Event::Type::kKeyRefused;
      e.code = err->code;
      e.nonce = err->nonce;
      Post(it->second, std::move(e));
      return;
    }
    ErrorOutcome out;
    {
      std::lock_guard<std::mutex> lock(tracker_mu);
      tracker.set_connections(mqtt->reconnects());
      out = tracker.OnError(t->device, *err, now);
    }
    if (out.action == ErrorOutcome::Action::kResend) {
      Event e;
      e.type = Event::Type::kResend;
      e.old_seq = out.seq;
      e.index = out.index;
      e.sent_ms = out.sent_ms;
      e.code = err->code;
      Post(it->second, std::move(e));
    }
  }

  // Stops publishing for `d`: its unpublished readings and pending resends end with
  // `code` (unanswered when empty).
  void FailDevice(Device* d, const std::string& code, const std::string& why) {
    d->failed = true;
    d->agreement.reset();
    {
      std::lock_guard<std::mutex> lock(tracker_mu);
      tracker.OnNotSent(d->name, o.count - d->next_index, code);
      for (const auto& [seq, index] : d->resends) tracker.Abandon(d->name, seq, code);
    }
    d->next_index = o.count;
    d->resends.clear();
    Warn(&key_warnings, d->name + ": " + why);
  }

  void StartAgreement(Device* d, double now) {
    StatusOr<KeyAgreement> a = KeyAgreement::Start(d->name, *d->key, o.DeviceClockMs(),
                                                   [](size_t n) { return RandomBytes(n); });
    if (!a.ok()) return FailDevice(d, "internal", a.status().ToString());
    d->agreement.emplace(std::move(a).value());
    d->key_deadline = now + static_cast<double>(o.key_timeout_ms);
    const std::string topic = device_protocol::DeviceTopicString(
        o.topic_prefix,
        device_protocol::DeviceTopic{d->name, device_protocol::TopicKind::kKey, ""});
    Status s = mqtt->Publish(topic, d->agreement->request_json(), 1, false);
    if (!s.ok()) FailDevice(d, "publish_failed", "key request: " + s.ToString());
  }

  void PublishReading(Device* d, uint64_t index, std::optional<uint64_t> resend_of) {
    const std::string item = o.PublishItem();
    ReadingSpec spec{d->name, item, d->next_seq++, o.DeviceClockMs()};
    if (o.fault == Fault::kStale) spec.ts -= kStaleOffsetMs;
    const std::string payload = o.payload ? *o.payload : GeneratePayload(index, o.payload_size);
    UserProperties props;
    if (o.mode == AuthMode::kMac) {
      props = MacProperties(spec, payload, *d->session, o.fault);
    } else {
      StatusOr<UserProperties> p = SigProperties(spec, payload, *d->key, o.fault);
      if (!p.ok()) return FailDevice(d, "internal", "signing: " + p.status().ToString());
      props = std::move(p).value();
    }
    const std::string topic = device_protocol::DeviceTopicString(
        o.topic_prefix,
        device_protocol::DeviceTopic{d->name, device_protocol::TopicKind::kData, item});
    {
      std::lock_guard<std::mutex> lock(tracker_mu);  // before publishing: answers are fast
      tracker.set_connections(mqtt->reconnects());
      tracker.OnPublished(d->name, spec.seq, index, SteadyMs(), resend_of);
      if (o.fault == Fault::kReplay) tracker.OnReplayCopyPublished(d->name, spec.seq, SteadyMs());
    }
    Status s = mqtt->Publish(topic, payload, o.qos, false, props);
    if (s.ok() && o.fault == Fault::kReplay) s = mqtt->Publish(topic, payload, o.qos, false, props);
    last_publish_ms.store(SteadyMs());
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(tracker_mu);
      tracker.Abandon(d->name, spec.seq, "publish_failed");
      Warn(&publish_warnings, "publish " + topic + ": " + s.ToString());
      return;
    }
    if (keep_sent()) d->sent.push_back(SentMessage{d->name, item, spec.seq, topic, payload, props});
    if (o.accounts()) {
      d->chain.Add(spec.seq, device_protocol::MessageDigest(spec, payload));
      if (o.account_every > 0 && ++d->since_account >= o.account_every) PublishAccount(d);
    }
  }

  // Publishes the account of `d`'s readings not yet in one (docs/ACCOUNTS.md), under the
  // device's own sequence, authenticated like its readings.
  void PublishAccount(Device* d) {
    // Without a session the readings stay pending for the next account.
    if (o.mode == AuthMode::kMac && !d->session) return;
    d->since_account = 0;
    d->account_due = SteadyMs() + static_cast<double>(o.account_interval_ms);
    std::optional<device_protocol::Account> a = d->chain.Cut();
    if (!a) return;
    const std::string payload = device_protocol::AccountJson(*a);
    ReadingSpec spec{d->name, std::string(device_protocol::kAccountItem), d->next_seq++, NowMs()};
    UserProperties props;
    if (o.mode == AuthMode::kMac) {
      props = MacProperties(spec, payload, *d->session, Fault::kNone);
    } else {
      StatusOr<UserProperties> p = SigProperties(spec, payload, *d->key, Fault::kNone);
      if (!p.ok()) return Warn(&account_warnings, d->name + ": signing an account failed");
      props = std::move(p).value();
    }
    const std::string topic = device_protocol::DeviceTopicString(
        o.topic_prefix,
        device_protocol::DeviceTopic{d->name, device_protocol::TopicKind::kAccount, ""});
    Status s = mqtt->Publish(topic, payload, 1, false, props);
    if (!s.ok()) return Warn(&account_warnings, "publish " + topic + ": " + s.ToString());
    accounts_sent.fetch_add(1);
  }

  void HandleEvent(const Event& e) {
    Device* d = &devices[e.device];
    switch (e.type) {
      case Event::Type::kKeyReply: {
        if (!d->agreement) return;  // a late or repeated reply
        StatusOr<Session> s = d->agreement->Finish(e.payload, trust);
        if (!s.ok())
          return FailDevice(d, "bad_key_reply", "key reply refused: " + s.status().ToString());
        const uint64_t wall = NowMs();
        const uint64_t life = s->expires > wall ? s->expires - wall : 0;
        d->session_renew_at = o.session_overrun_ms > 0
                                  ? s->expires + o.session_overrun_ms
                                  : s->expires - std::min(kRenewMarginMs, life / 2);
        d->session = std::move(s).value();
        d->session_agreed_ms = SteadyMs();
        d->agreement.reset();
        sessions.fetch_add(1);
        return;
      }
      case Event::Type::kKeyRefused:
        if (!d->agreement) return;
        if (e.nonce && *e.nonce != d->agreement->nonce()) return;    // an older request's
        if (e.code == "unregistered" && SteadyMs() < grace_until) {  // bridge catching up
          d->agreement.reset();
          d->key_retry_at = SteadyMs() + kUnregisteredRetryMs;
          return;
        }
        return FailDevice(d, e.code, "key request refused with " + e.code);
      case Event::Type::kResend:
        if (d->failed) {
          std::lock_guard<std::mutex> lock(tracker_mu);
          tracker.Abandon(d->name, e.old_seq, e.code);
          return;
        }
        d->resends.emplace_back(e.old_seq, e.index);
        d->chain.Forget(e.old_seq);  // refused: not on the ledger, sent again under a new seq
        if (e.code == "unregistered") d->resend_not_before = SteadyMs() + kUnregisteredRetryMs;
        // Refused under the session current when it was sent: agree a new one.
        if (e.code == "no_session" && d->session && d->session_agreed_ms <= e.sent_ms) {
          d->session.reset();
        }
        return;
    }
  }

  // Advances one device; returns when it next wants attention. Clears *idle while the
  // device still has something to publish or a key request in flight.
  double Step(Device* d, double now, bool* idle) {
    if (d->failed) return kNever;
    if (o.account_interval_ms > 0 && d->chain.pending() > 0 && now >= d->account_due &&
        (o.mode != AuthMode::kMac || d->session)) {
      PublishAccount(d);
    }
    const bool has_work = d->next_index < o.count || !d->resends.empty();
    if (o.mode == AuthMode::kMac && o.fault != Fault::kNoSession) {
      if (d->agreement) {
        if (now < d->key_deadline) {
          *idle = false;
          return d->key_deadline;
        }
        FailDevice(d, "",
                   "no answer to its key request within " + std::to_string(o.key_timeout_ms) +
                       " ms (is the bridge running?)");
        return kNever;
      }
      if (!has_work) return kNever;
      if (!d->session || NowMs() >= d->session_renew_at) {
        *idle = false;
        if (now < d->key_retry_at) return d->key_retry_at;
        StartAgreement(d, now);
        return d->key_deadline;
      }
    }
    if (!has_work) return kNever;
    *idle = false;
    if (!d->resends.empty() && now < d->resend_not_before) return d->resend_not_before;
    while (!d->resends.empty() && !d->failed) {
      auto [old_seq, index] = d->resends.front();
      d->resends.pop_front();
      PublishReading(d, index, old_seq);
    }
    if (d->next_index >= o.count || d->failed) return now;
    if (now < d->next_due) return d->next_due;
    size_t n = 0;
    do {
      PublishReading(d, d->next_index++, std::nullopt);
      if (o.rate > 0) d->next_due += 1000.0 / static_cast<double>(o.rate);
    } while (o.rate == 0 && ++n < kBurst && d->next_index < o.count && !d->failed);
    return o.rate > 0 ? d->next_due : now;
  }

  void PublisherLoop(size_t w, Worker& self) {
    std::vector<Device*> mine;
    double wake = SteadyMs();
    const double period = o.rate > 0 ? 1000.0 / static_cast<double>(o.rate) : 0;
    for (size_t i = w; i < devices.size(); i += publishers) {
      devices[i].next_due = wake + period * static_cast<double>(i) /
                                       static_cast<double>(devices.size());  // spread the load
      mine.push_back(&devices[i]);
    }
    while (!self.stopping()) {
      for (const Event& e : inboxes[w]->TakeAll(wake - SteadyMs())) HandleEvent(e);
      const double now = SteadyMs();
      wake = now + 100;
      bool idle_now = true;
      for (Device* d : mine) wake = std::min(wake, Step(d, now, &idle_now));
      idle[w].store(idle_now);
    }
  }

  bool AllIdle() const {
    for (size_t w = 0; w < publishers; ++w) {
      if (!idle[w].load()) return false;
    }
    return true;
  }

  void Progress(double start) {
    uint64_t published, answered, outstanding;
    {
      std::lock_guard<std::mutex> lock(tracker_mu);
      published = tracker.published();
      answered = tracker.answered();
      outstanding = tracker.outstanding();
    }
    std::fprintf(stderr,
                 "device_sim: %.1fs sessions=%llu published=%llu answered=%llu "
                 "outstanding=%llu\n",
                 (SteadyMs() - start) / 1000.0, static_cast<unsigned long long>(sessions.load()),
                 static_cast<unsigned long long>(published),
                 static_cast<unsigned long long>(answered),
                 static_cast<unsigned long long>(outstanding));
  }

  // Waits until publishers (if any) are idle and every answer came, or ack_timeout_ms
  // passed since the last publish.
  void WaitForAnswers(double start) {
    double next_progress = SteadyMs() + static_cast<double>(o.progress_ms);
    while (true) {
      const double now = SteadyMs();
      if (grace_until.load() > 0 && now >= grace_until.load()) {
        grace_until.store(0);
        std::lock_guard<std::mutex> lock(tracker_mu);
        tracker.set_resend_codes(resend_codes);
      }
      if (AllIdle()) {
        uint64_t outstanding;
        {
          std::lock_guard<std::mutex> lock(tracker_mu);
          outstanding = tracker.outstanding();
        }
        if (outstanding == 0) return;
        if (now - last_publish_ms.load() > static_cast<double>(o.ack_timeout_ms)) {
          std::fprintf(stderr,
                       "device_sim: %llu answers still missing %llu ms after the last "
                       "publish; giving up\n",
                       static_cast<unsigned long long>(outstanding),
                       static_cast<unsigned long long>(o.ack_timeout_ms));
          return;
        }
      }
      if (o.progress_ms > 0 && now >= next_progress) {
        Progress(start);
        next_progress = now + static_cast<double>(o.progress_ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void PublishCopies(const std::vector<SentMessage>& copies) {
    for (const SentMessage& m : copies) {
      {
        std::lock_guard<std::mutex> lock(tracker_mu);
        tracker.OnReplayCopyPublished(m.device, m.seq, SteadyMs());
      }
      Status s = mqtt->Publish(m.topic, m.payload, o.qos, false, m.props);
      last_publish_ms.store(SteadyMs());
      if (!s.ok()) Warn(&publish_warnings, "publish " + m.topic + ": " + s.ToString());
    }
  }

  // Once every reading is answered: the account of each device's rest, then wait for the
  // answers to all accounts (up to ack_timeout_ms).
  void FinishAccounts() {
    for (Device& d : devices) {
      if (!d.failed && d.chain.pending() > 0) PublishAccount(&d);
    }
    const double deadline = SteadyMs() + static_cast<double>(o.ack_timeout_ms);
    while (accounts_recorded.load() + accounts_refused.load() < accounts_sent.load() &&
           SteadyMs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::fprintf(stderr, "device_sim: accounts sent=%llu recorded=%llu refused=%llu\n",
                 static_cast<unsigned long long>(accounts_sent.load()),
                 static_cast<unsigned long long>(accounts_recorded.load()),
                 static_cast<unsigned long long>(accounts_refused.load()));
  }

  std::vector<SentMessage> AcceptedSent() {
    std::vector<SentMessage> out;
    std::lock_guard<std::mutex> lock(tracker_mu);
    for (const Device& d : devices) {
      for (const SentMessage& m : d.sent) {
        if (tracker.Accepted(m.device, m.seq)) out.push_back(m);
      }
    }
    return out;
  }
};

namespace {

std::vector<std::unique_ptr<Signer>> LocalSigners(std::vector<PrivateKey> keys) {
  std::vector<std::unique_ptr<Signer>> out;
  for (PrivateKey& k : keys) out.push_back(std::make_unique<LocalSigner>(std::move(k)));
  return out;
}

}  // namespace

SimRunner::SimRunner(SimOptions options, std::vector<PrivateKey> keys,
                     std::vector<SentMessage> replay)
    : SimRunner(std::move(options), LocalSigners(std::move(keys)), std::move(replay)) {}

SimRunner::SimRunner(SimOptions options, std::vector<std::unique_ptr<Signer>> keys,
                     std::vector<SentMessage> replay)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  m.replay = std::move(replay);
  m.trust.gateway_id = m.o.gateway_id;
  m.trust.gateway_pubkey = m.o.gateway_pubkey;
  TrackerOptions topts;
  topts.list_records = m.o.list_records;
  if (m.o.fault == Fault::kNoSession || m.o.expect_error == "no_session") {
    topts.resend_codes.erase("no_session");
  }
  m.resend_codes = topts.resend_codes;
  if (m.o.just_registered) {
    topts.resend_codes.insert("unregistered");
    m.grace_until.store(SteadyMs() + static_cast<double>(m.o.register_grace_ms));
  }
  m.tracker = AckTracker(topts);
  if (m.replay_mode()) {
    for (const SentMessage& s : m.replay) m.device_index.emplace(s.device, SIZE_MAX);
    return;
  }
  const uint64_t seq_base = m.o.seq_start ? *m.o.seq_start : NowUs();
  m.devices.resize(m.o.devices);
  for (size_t i = 0; i < m.devices.size(); ++i) {
    Device& d = m.devices[i];
    d.name = m.o.DeviceName(i);
    if (i < keys.size()) d.key = std::move(keys[i]);
    d.next_seq = seq_base;
    if (m.o.fault == Fault::kNoSession) {  // MACs under a session never agreed
      d.session = Session{"", RandomBytes(32), RandomBytes(8), 0};
    }
    m.device_index[d.name] = i;
  }
  m.publishers = std::min<size_t>(m.o.workers, m.devices.size());
  m.idle = std::make_unique<std::atomic<bool>[]>(m.publishers);
  for (size_t w = 0; w < m.publishers; ++w) {
    m.inboxes.push_back(std::make_unique<Inbox<Event>>(kInboxLimit));
    m.idle[w].store(false);
  }
}

SimRunner::~SimRunner() = default;

StatusOr<Summary> SimRunner::Run() {
  Impl& m = *impl_;
  const SimOptions& o = m.o;
  const double start = SteadyMs();
  MqttOptions mo;
  mo.uri = o.broker;
  mo.security = o.broker_security;
  mo.client_id = o.client_id;
  mo.persistent_session = o.persistent_session;
  Impl* self = &m;
  PL_ASSIGN_OR_RETURN(m.mqtt, MqttClient::Connect(mo, [self](MqttMessage msg) {
                        if (!self->answers.Push(std::move(msg))) self->answers_dropped.fetch_add(1);
                      }));
  Worker answer_worker("answers", [self](Worker& w) {
    while (!w.stopping()) {
      for (const MqttMessage& msg : self->answers.TakeAll(100)) self->HandleAnswer(msg);
    }
  });
  answer_worker.set_on_stop([self] { self->answers.Wake(); });

  std::set<std::string> names, items;
  for (const auto& [name, i] : m.device_index) names.insert(name);
  if (m.replay_mode()) {
    for (const SentMessage& s : m.replay) items.insert(s.item);
  } else {
    items.insert(o.PublishItem());
  }
  const std::vector<std::string> filters = m.Filters(names, items);
  for (const std::string& f : filters) PL_RETURN_IF_ERROR(m.mqtt->Subscribe(f, 1));
  std::fprintf(stderr, "device_sim: connected to %s, %zu subscriptions, %zu devices\n",
               o.broker.c_str(), filters.size(), names.size());

  if (m.replay_mode()) {
    m.PublishCopies(m.replay);
    m.WaitForAnswers(start);
  } else {
    {
      std::vector<std::unique_ptr<Worker>> pool;
      for (size_t w = 0; w < m.publishers; ++w) {
        pool.push_back(std::make_unique<Worker>(
            "publish-" + std::to_string(w), [self, w](Worker& wk) { self->PublisherLoop(w, wk); }));
        Inbox<Event>* inbox = m.inboxes[w].get();
        pool.back()->set_on_stop([inbox] { inbox->Wake(); });
      }
      m.WaitForAnswers(start);
    }  // publishers joined: their devices' state is ours now
    if (o.accounts()) m.FinishAccounts();
    std::vector<SentMessage> accepted = m.AcceptedSent();
    if (!o.replay_file.empty()) {
      std::string lines;
      for (const SentMessage& s : accepted) lines += SentMessageJson(s) + "\n";
      PL_RETURN_IF_ERROR(WriteFileAtomically(o.replay_file, lines, 0600).Annotate("--replay_file"));
      std::fprintf(stderr, "device_sim: wrote %zu accepted readings to %s\n", accepted.size(),
                   o.replay_file.c_str());
    }
    if (o.fault == Fault::kReplayAfter) {
      std::fprintf(stderr, "device_sim: republishing %zu accepted readings verbatim\n",
                   accepted.size());
      m.PublishCopies(accepted);
      m.WaitForAnswers(start);
    }
  }
  if (o.progress_ms > 0) m.Progress(start);
  m.mqtt->Disconnect();
  answer_worker.Stop();
  if (m.answers_dropped.load() + m.events_dropped.load() > 0) {
    std::fprintf(
        stderr, "device_sim: dropped %llu answers (queue full)\n",
        static_cast<unsigned long long>(m.answers_dropped.load() + m.events_dropped.load()));
  }
  if (m.answers_seen.load() == 0) {
    std::fprintf(stderr,
                 "device_sim: no answer came back at all: is the bridge running, connected to "
                 "%s, with topic prefix '%s'?\n",
                 o.broker.c_str(), o.topic_prefix.c_str());
  }
  std::lock_guard<std::mutex> lock(m.tracker_mu);
  Summary summary = m.tracker.Summarize(m.replay_mode() ? names.size() : o.devices, o.expect_error);
  summary.accounts_sent = m.accounts_sent.load();
  summary.accounts_recorded = m.accounts_recorded.load();
  summary.accounts_refused = m.accounts_refused.load();
  return summary;
}

StatusOr<std::vector<SentMessage>> ReadReplayFile(const std::string& path) {
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(path));
  std::vector<SentMessage> out;
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    StatusOr<SentMessage> m = ParseSentMessage(line);
    if (!m.ok()) return m.status().Annotate(path + ":" + std::to_string(line_no));
    out.push_back(std::move(m).value());
  }
  if (out.empty()) return InvalidArgumentError(path + ": no messages to replay");
  return out;
}

}  // namespace provledger::device_sim
