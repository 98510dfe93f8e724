#include "agent/report_pusher.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "agent/agent_metrics.h"
#include "common/log.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"

namespace provledger::agent {

namespace {

namespace dp = ::provledger::device_protocol;

// A signer's errors as the pusher treats them (docs/TOKENS.md): kUnavailable (a token busy
// or unplugged) passes as is and is retried; any other failure is permanent, so it becomes
// kPermissionDenied and stops the agent (retrying a refused PIN may lock a card).
template <typename T>
StatusOr<T> SignerOutcome(StatusOr<T> r) {
  if (r.ok() || r.status().code() == StatusCode::kUnavailable ||
      r.status().code() == StatusCode::kPermissionDenied) {
    return r;
  }
  return Status(StatusCode::kPermissionDenied, "signing: " + r.status().ToString());
}

constexpr uint64_t kRenewMarginMs = 300000;  // the default clock window
constexpr double kStopCheckMs = 200;
constexpr size_t kInboxLimit = 1024;

}  // namespace

uint64_t NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

double SteadyNowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ReportPusher::ReportPusher(PusherOptions options, const Signer& signer, StateStore* store,
                           PublishFn publish, dp::RandomSource random)
    : o_(std::move(options)),
      signer_(signer),
      store_(store),
      publish_(std::move(publish)),
      random_(std::move(random)) {
  const std::string& p = o_.topic_prefix;
  const std::string& d = o_.device;
  kinds_[dp::KeySuccessTopic(p, d)] = Kind::kKeySuccess;
  kinds_[dp::KeyFailTopic(p, d)] = Kind::kKeyFail;
  kinds_[dp::UnauthTopic(p, d)] = Kind::kUnauth;
  kinds_[dp::ForbiddenTopic(p, d)] = Kind::kForbidden;
  kinds_[dp::IntegrityVerdictTopic(p, d)] = Kind::kVerdict;
  kinds_[dp::IntegrityErrorTopic(p, d)] = Kind::kError;
}

std::vector<std::string> ReportPusher::AnswerTopics() const {
  std::vector<std::string> out;
  for (const auto& [topic, kind] : kinds_) out.push_back(topic);
  return out;
}

void ReportPusher::OnAnswer(const MqttMessage& m) {
  if (m.retained) return;  // answers are never retained (section 3)
  auto it = kinds_.find(m.topic);
  if (it == kinds_.end()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (inbox_.size() >= kInboxLimit) inbox_.pop_front();  // a flood: keep the newest
  inbox_.push_back(Answer{it->second, m.payload});
  cv_.notify_all();
}

std::optional<ReportPusher::Answer> ReportPusher::NextAnswer(
    double until, const std::function<bool()>& stopping) {
  std::unique_lock<std::mutex> lock(mu_);
  while (inbox_.empty()) {
    const double now = SteadyNowMs();
    if (now >= until || stopping()) return std::nullopt;
    cv_.wait_for(lock,
                 std::chrono::duration<double, std::milli>(std::min(until - now, kStopCheckMs)));
  }
  Answer a = std::move(inbox_.front());
  inbox_.pop_front();
  return a;
}

bool ReportPusher::SessionUsable() const {
  std::lock_guard<std::mutex> lock(session_mu_);
  return session_.has_value() && NowMs() < session_renew_at_;
}

bool ReportPusher::has_session() const {
  std::lock_guard<std::mutex> lock(session_mu_);
  return session_.has_value();
}

Status ReportPusher::EnsureSession(const std::function<bool()>& stopping, double deadline_ms) {
  if (o_.auth != AuthMode::kMac || SessionUsable()) return OkStatus();
  DropSession();
  return AgreeSession(stopping, deadline_ms);
}

void ReportPusher::DropSession() {
  std::lock_guard<std::mutex> lock(session_mu_);
  session_.reset();
}

uint64_t ReportPusher::SeqFloor() const {
  return std::max(seq_floor_.load(), store_->state().next_seq == 0 ? NowMicros() : uint64_t{0});
}

StatusOr<UserProperties> ReportPusher::Authenticate(const std::string& item,
                                                    const std::string& payload) {
  std::optional<dp::Session> session;
  if (o_.auth == AuthMode::kMac) {
    std::lock_guard<std::mutex> lock(session_mu_);
    if (!session_ || NowMs() >= session_renew_at_) {
      return UnavailableError("no session agreed yet");
    }
    session = *session_;
  }
  PL_ASSIGN_OR_RETURN(const uint64_t seq, store_->TakeSeq(SeqFloor()));
  const dp::MessageSpec spec{o_.device, item, seq, NowMs()};
  if (session) return dp::MacProperties(spec, payload, *session);
  return SignerOutcome(dp::SigProperties(spec, payload, signer_));
}

void ReportPusher::MaybeSendAccount(bool flush) {
  if (chain_.pending() == 0) return;
  const double now = SteadyNowMs();
  if (account_due_ == 0) account_due_ = now + o_.account_interval_ms;
  const bool due = (o_.account_every > 0 && since_account_ >= o_.account_every) ||
                   (o_.account_interval_ms > 0 && now >= account_due_);
  if (!flush && !due) return;
  if (o_.auth == AuthMode::kMac && !SessionUsable()) return;  // pending until a session
  std::optional<dp::Account> a = chain_.Cut();
  since_account_ = 0;
  account_due_ = now + o_.account_interval_ms;
  const std::string payload = dp::AccountJson(*a);
  StatusOr<UserProperties> props = Authenticate(std::string(dp::kAccountItem), payload);
  Status s = props.status();
  if (s.ok()) {
    s = publish_(dp::DeviceTopicString(o_.topic_prefix,
                                       dp::DeviceTopic{o_.device, dp::TopicKind::kAccount, ""}),
                 payload, *props);
  }
  if (!s.ok()) {
    // The chain moved on: the next account's prev shows this one missing, as it is.
    LogWarn("account_not_sent").Kv("device", o_.device).Kv("error", s.ToString());
    return;
  }
  LogInfo("account_sent")
      .Kv("device", o_.device)
      .Kv("first", a->first())
      .Kv("last", a->last())
      .Kv("count", a->count)
      .Kv("head", ShortHex(a->head));
}

void ReportPusher::Backoff(const std::function<bool()>& stopping, double deadline_ms) {
  backoff_ms_ = backoff_ms_ == 0 ? o_.backoff_min_ms : std::min(backoff_ms_ * 2, o_.backoff_max_ms);
  double until = SteadyNowMs() + backoff_ms_;
  if (deadline_ms > 0) until = std::min(until, deadline_ms);
  while (SteadyNowMs() < until && !stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        static_cast<int64_t>(std::min(until - SteadyNowMs(), kStopCheckMs)) + 1));
  }
}

Status ReportPusher::AgreeSession(const std::function<bool()>& stopping, double deadline_ms) {
  PL_ASSIGN_OR_RETURN(dp::KeyAgreement agreement,
                      SignerOutcome(dp::KeyAgreement::Start(o_.device, signer_, NowMs(), random_)));
  const std::string topic =
      dp::DeviceTopicString(o_.topic_prefix, dp::DeviceTopic{o_.device, dp::TopicKind::kKey, ""});
  PL_RETURN_IF_ERROR(publish_(topic, agreement.request_json(), {}).Annotate("key request"));
  LogInfo("key_requested").Kv("device", o_.device);
  double until = SteadyNowMs() + o_.key_timeout_ms;
  if (deadline_ms > 0) until = std::min(until, deadline_ms);
  while (true) {
    std::optional<Answer> a = NextAnswer(until, stopping);
    if (!a) {
      return stopping() ? Status(StatusCode::kCancelled, "stopping")
                        : UnavailableError("no answer to the key request within " +
                                           std::to_string(o_.key_timeout_ms) + " ms");
    }
    if (a->kind == Kind::kKeySuccess) {
      StatusOr<dp::Session> s = agreement.Finish(a->payload, o_.trust);
      if (!s.ok()) {
        // Another request's reply (an earlier, timed-out one) fails the kid or signature
        // check against this request; a wrong gateway identity is permanent.
        if (s.status().code() == StatusCode::kPermissionDenied) {
          return PermissionDeniedError("key reply: " + s.status().message());
        }
        LogWarn("key_reply_ignored").Kv("error", s.status().message());
        continue;
      }
      const uint64_t wall = NowMs();
      const uint64_t life = s->expires > wall ? s->expires - wall : 0;
      std::lock_guard<std::mutex> lock(session_mu_);
      session_renew_at_ = s->expires - std::min(kRenewMarginMs, life / 2);
      LogInfo("session_agreed")
          .Kv("device", o_.device)
          .Kv("gateway", s->gateway)
          .Kv("kid", HexEncode(s->kid))
          .Kv("expires", s->expires);
      session_ = std::move(s).value();
      ++sessions_agreed_;
      Metrics().sessions_agreed.Inc();
      return Status();
    }
    if (a->kind == Kind::kKeyFail || a->kind == Kind::kUnauth) {
      StatusOr<ErrorAnswer> e = ParseErrorAnswer(a->payload);
      if (!e.ok()) continue;
      if (e->nonce && *e->nonce != agreement.nonce()) continue;  // an older request's
      Metrics().failures.With({"key_refused"}).Inc();
      LogWarn("key_refused").Kv("device", o_.device).Kv("code", e->code).Kv("reason", e->reason);
      if (e->code == "bad_auth") {
        return PermissionDeniedError(
            "key request refused bad_auth: the key file is not the "
            "device's registered key");
      }
      return UnavailableError("key request refused " + e->code);
    }
    // Integrity answers to earlier sends may still arrive; they are stale now.
  }
}

StatusOr<Delivery> ReportPusher::Deliver(const dp::IntegrityReport& report,
                                         const std::function<bool()>& stopping,
                                         double deadline_ms) {
  const std::string payload = dp::IntegrityReportJson(report);
  const std::string topic = dp::DeviceTopicString(
      o_.topic_prefix, dp::DeviceTopic{o_.device, dp::TopicKind::kIntegrity, ""});
  std::set<uint64_t> sent;  // every seq this report went out under
  int renewals = 0;
  Delivery d;
  auto expired = [&] { return deadline_ms > 0 && SteadyNowMs() >= deadline_ms; };
  while (true) {
    if (stopping()) return Status(StatusCode::kCancelled, "stopping");
    if (expired()) {
      return DeadlineExceededError("report from " + std::to_string(report.from) +
                                   " not answered in time after " + std::to_string(d.attempts) +
                                   " sends");
    }
    if (o_.auth == AuthMode::kMac && !SessionUsable()) {
      DropSession();
      Status s = AgreeSession(stopping, deadline_ms);
      if (s.code() == StatusCode::kPermissionDenied || s.code() == StatusCode::kCancelled) return s;
      if (!s.ok()) {
        LogWarn("session_retry").Kv("device", o_.device).Kv("error", s.message());
        Backoff(stopping, deadline_ms);
        continue;
      }
    }
    PL_ASSIGN_OR_RETURN(const uint64_t seq, store_->TakeSeq(SeqFloor()));
    const dp::MessageSpec spec{o_.device, std::string(dp::kIntegrityItem), seq, NowMs()};
    UserProperties props;
    if (o_.auth == AuthMode::kMac) {
      std::lock_guard<std::mutex> lock(session_mu_);
      props = dp::MacProperties(spec, payload, *session_);
    } else {
      StatusOr<UserProperties> signed_props =
          SignerOutcome(dp::SigProperties(spec, payload, signer_));
      if (signed_props.status().code() == StatusCode::kUnavailable) {
        LogWarn("sign_retry").Kv("device", o_.device).Kv("error", signed_props.status().message());
        Backoff(stopping, deadline_ms);
        continue;
      }
      PL_ASSIGN_OR_RETURN(props, std::move(signed_props));
    }
    sent.insert(seq);
    ++d.attempts;
    Status pub = publish_(topic, payload, props);
    if (!pub.ok()) {
      Metrics().failures.With({"publish_failed"}).Inc();
      LogWarn("publish_failed").Kv("device", o_.device).Kv("seq", seq).Kv("error", pub.message());
      Backoff(stopping, deadline_ms);
      continue;
    }
    Metrics().reports_sent.Inc();
    if (o_.account_every > 0 || o_.account_interval_ms > 0) {
      chain_.Add(seq, dp::MessageDigest(spec, payload));
      ++since_account_;
    }
    LogInfo("report_sent")
        .Kv("device", o_.device)
        .Kv("seq", seq)
        .Kv("boot", report.boot)
        .Kv("from", report.from)
        .Kv("entries", static_cast<uint64_t>(report.entries.size()))
        .Kv("bytes", static_cast<uint64_t>(payload.size()));

    double until = SteadyNowMs() + o_.answer_timeout_ms;
    if (deadline_ms > 0) until = std::min(until, deadline_ms);
    bool resend = false;
    while (!resend) {
      std::optional<Answer> a = NextAnswer(until, stopping);
      if (!a) {
        if (stopping()) return Status(StatusCode::kCancelled, "stopping");
        Metrics().failures.With({"report_unanswered"}).Inc();
        LogWarn("report_unanswered")
            .Kv("device", o_.device)
            .Kv("seq", seq)
            .Kv("timeout_ms", static_cast<uint64_t>(o_.answer_timeout_ms));
        Backoff(stopping, deadline_ms);
        resend = true;
        break;
      }
      if (a->kind == Kind::kVerdict) {
        StatusOr<Verdict> v = ParseVerdict(a->payload);
        if (!v.ok()) {
          LogWarn("bad_answer").Kv("topic", "integrity/verdict").Kv("error", v.status().message());
          continue;
        }
        if (sent.count(v->seq) == 0) continue;  // an answer to another report
        backoff_ms_ = 0;
        d.kind = Delivery::Kind::kAppraised;
        d.seq = v->seq;
        d.verdict = std::move(v).value();
        return d;
      }
      if (a->kind == Kind::kKeySuccess || a->kind == Kind::kKeyFail) continue;  // late
      StatusOr<ErrorAnswer> e = ParseErrorAnswer(a->payload);
      if (!e.ok()) {
        LogWarn("bad_answer").Kv("error", e.status().message());
        continue;
      }
      // Only the refusal of the latest send matters; earlier sends were already retried.
      if (e->seq && *e->seq != seq) continue;
      if (e->item && *e->item != dp::kIntegrityItem) continue;  // another message's
      chain_.Forget(seq);  // refused: not on the ledger (docs/ACCOUNTS.md section 1)
      Metrics().failures.With({"report_refused"}).Inc();
      LogWarn("report_refused")
          .Kv("device", o_.device)
          .Kv("seq", seq)
          .Kv("code", e->code)
          .Kv("reason", e->reason);
      switch (ClassifyRefusal(e->code)) {
        case Refusal::kRenewSession:
          // Once at once; if the new session is refused too, the bridges may not share
          // sessions yet (a restart in progress): back off rather than spin.
          if (++renewals > 1) Backoff(stopping, deadline_ms);
          DropSession();
          resend = true;
          break;
        case Refusal::kDropReport:
          d.kind = Delivery::Kind::kDropped;
          d.seq = seq;
          d.code = e->code;
          d.reason = e->reason;
          return d;
        case Refusal::kStopAgent:
          return PermissionDeniedError("report refused " + e->code +
                                       ": the key file is not the device's registered key");
        case Refusal::kRetry:
          if (e->code == "replay") seq_floor_.store(NowMicros());
          Backoff(stopping, deadline_ms);
          resend = true;
          break;
      }
    }
  }
}

}  // namespace provledger::agent
