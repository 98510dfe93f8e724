#include "agent/firmware_channel.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "agent/bridge_answers.h"
#include "common/json.h"
#include "common/log.h"
#include "device_protocol/firmware_manifest.h"
#include "device_protocol/topics.h"

namespace provledger::agent {

namespace {

namespace dp = ::provledger::device_protocol;

constexpr double kStopCheckMs = 200;

std::optional<uint64_t> SeqOf(const UserProperties& props) {
  for (const auto& [k, v] : props) {
    if (k != "pl-seq") continue;
    uint64_t seq = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      seq = seq * 10 + static_cast<uint64_t>(c - '0');
    }
    return seq;
  }
  return std::nullopt;
}

}  // namespace

FirmwareChannel::FirmwareChannel(FirmwareChannelOptions o, FirmwareChannelHooks hooks)
    : o_(std::move(o)), hooks_(std::move(hooks)) {
  code_topic_ = dp::UpdateCodeTopic(o_.topic_prefix, o_.device);
  status_topic_ = dp::DeviceTopicString(
      o_.topic_prefix, dp::DeviceTopic{o_.device, dp::TopicKind::kUpdateStatus, ""});
  success_topic_ = dp::UpdateStatusSuccessTopic(o_.topic_prefix, o_.device);
  error_topic_ = dp::UpdateStatusErrorTopic(o_.topic_prefix, o_.device);
  unauth_topic_ = dp::UnauthTopic(o_.topic_prefix, o_.device);
  forbidden_topic_ = dp::ForbiddenTopic(o_.topic_prefix, o_.device);
}

std::vector<std::string> FirmwareChannel::SharedTopics() const {
  return {unauth_topic_, forbidden_topic_};
}

std::vector<std::string> FirmwareChannel::Topics() const {
  return {code_topic_, success_topic_, error_topic_};
}

void FirmwareChannel::OnMessage(const MqttMessage& m) {
  if (m.topic == code_topic_) {
    std::lock_guard<std::mutex> lock(mu_);
    manifests_.push_back(m.payload);
    while (manifests_.size() > o_.max_queued) manifests_.pop_front();
    cv_.notify_all();
    return;
  }
  if (m.retained) return;  // answers are never retained (section 3)
  StatusAnswer a;
  if (m.topic == success_topic_) {
    StatusOr<JsonValue> j = ParseJson(m.payload);
    StatusOr<uint64_t> seq = j.ok() ? j->GetInt("seq") : StatusOr<uint64_t>(j.status());
    if (!seq.ok()) {
      LogWarn("bad_answer")
          .Kv("topic", "update/status/success")
          .Kv("error", seq.status().message());
      return;
    }
    a.success = true;
    a.seq = *seq;
  } else if (m.topic == error_topic_ || m.topic == unauth_topic_ || m.topic == forbidden_topic_) {
    StatusOr<ErrorAnswer> e = ParseErrorAnswer(m.payload);
    if (m.topic != error_topic_ && (!e.ok() || e->item != std::string(dp::kUpdateItem))) {
      return;  // another message's refusal: the report pusher's
    }
    if (!e.ok() || !e->seq) {
      LogWarn("bad_answer")
          .Kv("topic", "update/status/error")
          .Kv("error", e.ok() ? "no seq" : e.status().message());
      return;
    }
    a.seq = *e->seq;
    a.code = e->code;
    a.reason = e->reason;
  } else {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  answers_.push_back(std::move(a));
  while (answers_.size() > 64) answers_.pop_front();
  cv_.notify_all();
}

void FirmwareChannel::Run(const std::function<bool()>& stopping) {
  while (!stopping()) {
    std::string manifest;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(static_cast<int64_t>(kStopCheckMs)),
                   [this] { return !manifests_.empty(); });
      if (manifests_.empty()) continue;
      manifest = std::move(manifests_.front());
      manifests_.pop_front();
    }
    std::optional<dp::InstallReport> report = hooks_.on_manifest(manifest);
    if (!report) continue;  // already handled, or nothing to report about
    LogInfo("firmware_outcome")
        .Kv("device", o_.device)
        .Kv("vendor", report->vendor)
        .Kv("version", report->version)
        .Kv("counter", report->counter)
        .Kv("result", report->installed ? "installed" : "refused")
        .Kv("reason", report->reason);
    Deliver(dp::InstallReportJson(*report), stopping);
  }
}

void FirmwareChannel::Deliver(const std::string& json, const std::function<bool()>& stopping) {
  backoff_ms_ = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.clear();  // answers to earlier reports
  }
  while (!stopping()) {
    StatusOr<UserProperties> props = hooks_.authenticate(std::string(dp::kUpdateItem), json);
    if (!props.ok()) {
      if (props.status().code() == StatusCode::kUnavailable) {
        wants_session_.store(true);
        Backoff(stopping);
        continue;
      }
      LogError("install_report_dropped")
          .Kv("device", o_.device)
          .Kv("error", props.status().ToString());
      ++dropped_;
      wants_session_.store(false);
      return;
    }
    wants_session_.store(false);
    const std::optional<uint64_t> seq = SeqOf(*props);
    Status pub = hooks_.publish(status_topic_, json, *props);
    if (!pub.ok() || !seq) {
      LogWarn("publish_failed").Kv("topic", "update/status").Kv("error", pub.message());
      Backoff(stopping);
      continue;
    }
    LogInfo("install_report_sent").Kv("device", o_.device).Kv("seq", *seq);
    std::optional<StatusAnswer> a =
        AwaitAnswer(*seq, SteadyNowMs() + o_.answer_timeout_ms, stopping);
    if (!a) {
      if (stopping()) return;
      LogWarn("install_report_unanswered").Kv("device", o_.device).Kv("seq", *seq);
      Backoff(stopping);
      continue;
    }
    if (a->success) {
      LogInfo("install_report_acknowledged").Kv("device", o_.device).Kv("seq", *seq);
      ++acknowledged_;
      return;
    }
    const Refusal r = ClassifyRefusal(a->code);
    if (r == Refusal::kDropReport || r == Refusal::kStopAgent) {
      LogError("install_report_dropped")
          .Kv("device", o_.device)
          .Kv("seq", *seq)
          .Kv("code", a->code)
          .Kv("reason", a->reason);
      ++dropped_;
      return;
    }
    LogWarn("install_report_retry").Kv("device", o_.device).Kv("seq", *seq).Kv("code", a->code);
    if (r == Refusal::kRenewSession && hooks_.forget_session) hooks_.forget_session();
    Backoff(stopping);
  }
}

std::optional<FirmwareChannel::StatusAnswer> FirmwareChannel::AwaitAnswer(
    uint64_t seq, double until, const std::function<bool()>& stopping) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping()) {
    for (auto it = answers_.begin(); it != answers_.end(); ++it) {
      if (it->seq != seq) continue;
      StatusAnswer a = std::move(*it);
      answers_.erase(it);
      return a;
    }
    const double now = SteadyNowMs();
    if (now >= until) return std::nullopt;
    cv_.wait_for(lock, std::chrono::milliseconds(
                           static_cast<int64_t>(std::min(until - now, kStopCheckMs)) + 1));
  }
  return std::nullopt;
}

void FirmwareChannel::Backoff(const std::function<bool()>& stopping) {
  backoff_ms_ = backoff_ms_ == 0 ? o_.backoff_min_ms : std::min(backoff_ms_ * 2, o_.backoff_max_ms);
  const double until = SteadyNowMs() + backoff_ms_;
  while (SteadyNowMs() < until && !stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        static_cast<int64_t>(std::min(until - SteadyNowMs(), kStopCheckMs)) + 1));
  }
}

}  // namespace provledger::agent
