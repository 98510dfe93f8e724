#include "tools/device_sim/report_sender.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "common/json.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "device_protocol/key_agreement.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"

namespace provledger::device_sim {
namespace {

// Answers as they arrive from the MQTT client's thread.
class Inbox {
 public:
  void Put(MqttMessage m) {
    std::lock_guard<std::mutex> lock(mu_);
    q_.push_back(std::move(m));
    cv_.notify_all();
  }
  // The first message whose topic is one of `topics`, or nullopt at the deadline.
  std::optional<MqttMessage> Take(const std::vector<std::string>& topics, uint64_t deadline_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      for (auto it = q_.begin(); it != q_.end(); ++it) {
        for (const auto& t : topics) {
          if (it->topic == t) {
            MqttMessage m = std::move(*it);
            q_.erase(it);
            return m;
          }
        }
      }
      const uint64_t now = NowMs();
      if (now >= deadline_ms) return std::nullopt;
      cv_.wait_for(lock, std::chrono::milliseconds(deadline_ms - now));
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<MqttMessage> q_;
};

}  // namespace

StatusOr<ReportAnswer> SendIntegrityReport(const SimOptions& o, const Signer& key,
                                           const std::string& report) {
  const std::string device = o.DeviceName(0);
  const std::string& p = o.topic_prefix;
  Inbox inbox;
  MqttOptions mo;
  mo.uri = o.broker;
  mo.security = o.broker_security;
  mo.client_id = o.client_id;
  PL_ASSIGN_OR_RETURN(
      auto mqtt, MqttClient::Connect(mo, [&inbox](MqttMessage m) { inbox.Put(std::move(m)); }));
  const std::vector<std::string> answers = {device_protocol::IntegrityVerdictTopic(p, device),
                                            device_protocol::IntegrityErrorTopic(p, device),
                                            device_protocol::UnauthTopic(p, device),
                                            device_protocol::ForbiddenTopic(p, device)};
  std::vector<std::string> filters = answers;
  filters.push_back(device_protocol::KeySuccessTopic(p, device));
  filters.push_back(device_protocol::KeyFailTopic(p, device));
  // Answers are not retained: subscribed before anything is published.
  PL_RETURN_IF_ERROR(mqtt->Subscribe(filters, 1, 10000));

  const uint64_t seq = o.seq_start.value_or(NowMs() * 1000);
  const uint64_t ts = o.DeviceClockMs();
  device_protocol::MessageSpec spec{device, std::string(ledger::kIntegrityItem), seq, ts};
  UserProperties props;
  if (o.mode == AuthMode::kMac) {
    PL_ASSIGN_OR_RETURN(
        device_protocol::KeyAgreement ka,
        device_protocol::KeyAgreement::Start(device, key, o.DeviceClockMs(),
                                             [](size_t n) { return RandomBytes(n); }));
    PL_RETURN_IF_ERROR(mqtt->Publish(p + "/" + device + "/key", ka.request_json(), 1, false));
    auto reply = inbox.Take(
        {device_protocol::KeySuccessTopic(p, device), device_protocol::KeyFailTopic(p, device),
         device_protocol::UnauthTopic(p, device)},
        NowMs() + o.key_timeout_ms);
    if (!reply) return DeadlineExceededError("no answer to the key request");
    if (reply->topic != device_protocol::KeySuccessTopic(p, device)) {
      return PermissionDeniedError("key request refused on " + reply->topic + ": " +
                                   reply->payload);
    }
    device_protocol::GatewayTrust trust{o.gateway_id, o.gateway_pubkey};
    PL_ASSIGN_OR_RETURN(device_protocol::Session session, ka.Finish(reply->payload, trust));
    props = device_protocol::MacProperties(spec, report, session);
  } else {
    PL_ASSIGN_OR_RETURN(props, device_protocol::SigProperties(spec, report, key));
  }
  const uint64_t sent = NowMs();
  PL_RETURN_IF_ERROR(mqtt->Publish(p + "/" + device + "/integrity", report, 1, false, props));
  std::optional<MqttMessage> answer;
  while (true) {
    answer = inbox.Take(answers, sent + o.ack_timeout_ms);
    if (!answer) break;
    // An answer naming another seq is not this report's.
    auto j = ParseJson(answer->payload);
    const JsonValue* s = j.ok() ? j->Find("seq") : nullptr;
    if (s == nullptr || !s->is_int() || s->int_value() == seq) break;
  }
  mqtt->Disconnect();
  if (!answer) return DeadlineExceededError("no answer to the integrity report");
  ReportAnswer a;
  a.topic = answer->topic;
  a.payload = answer->payload;
  a.verdict = answer->topic == answers[0];
  a.seq = seq;
  a.latency_ms = NowMs() - sent;
  return a;
}

}  // namespace provledger::device_sim
