// FirmwareChannel: the agent's side of PROTOCOL.md section 8 over MQTT (docs/AGENT.md,
// "Firmware updates"). Manifests arriving on {prefix}/{device}/update/code are queued; a
// worker hands each to the updater (FirmwareUpdater::OnManifest) and delivers the install
// report it returns to {prefix}/{device}/update/status, QoS 1, under the pl- headers of the
// device's one seq sequence (ReportPusher::Authenticate, item "_update"), until the bridge
// answers it on update/status/success.
//
// Retries (each send with a new seq): no headers yet (kUnavailable: no session, a token
// busy), a publish that failed, no answer in answer_timeout_ms, and the transient refusals
// (internal, stale, replay, unregistered, quarantined, no_session: the session is
// forgotten so a new one is agreed). Never retried: malformed, too_large, bad_auth and headers
// refused for good (the signer failing permanently); the report is logged and dropped. A retained
// manifest comes again after every reconnect; the updater answers nullopt for one already handled.
//
// Thread rules: OnMessage from any thread (the MQTT callback; it only queues); Run on one
// worker thread; wants_session and the counters from any thread.
#ifndef PROVLEDGER_AGENT_FIRMWARE_CHANNEL_H_
#define PROVLEDGER_AGENT_FIRMWARE_CHANNEL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/report_pusher.h"
#include "common/bytes.h"
#include "common/mqtt_client.h"
#include "common/status.h"
#include "device_protocol/device_message.h"

namespace provledger::agent {

struct FirmwareChannelOptions {
  std::string device;
  std::string topic_prefix = "devices";
  uint32_t answer_timeout_ms = 30000;  // wait for update/status/success before sending again
  uint32_t backoff_min_ms = 500;       // first wait after a transient failure
  uint32_t backoff_max_ms = 30000;     // doubling up to this
  size_t max_queued = 16;              // manifests waiting; the oldest is dropped beyond
};

// What the channel calls: the updater, the headers of a message, publish, and (after a
// no_session answer) forgetting the session.
struct FirmwareChannelHooks {
  std::function<std::optional<device_protocol::InstallReport>(ByteView manifest)> on_manifest;
  std::function<StatusOr<UserProperties>(const std::string& item, const std::string& payload)>
      authenticate;
  PublishFn publish;
  std::function<void()> forget_session;
};

class FirmwareChannel {
 public:
  FirmwareChannel(FirmwareChannelOptions o, FirmwareChannelHooks hooks);

  // update/code, update/status/success and update/status/error of the device.
  std::vector<std::string> Topics() const;
  // unauth and forbidden of the device: refusals of any message (no_session, quarantined,
  // unregistered), shared with the report pusher; OnMessage takes those of item "_update".
  std::vector<std::string> SharedTopics() const;

  // Queues a message that came on one of Topics() or SharedTopics().
  void OnMessage(const MqttMessage& m);

  // Handles queued manifests one at a time until `stopping()` turns true (checked at least
  // every 200 ms, also while a report waits for its answer or a retry).
  void Run(const std::function<bool()>& stopping);

  // True while an install report waits for headers that are kUnavailable (in MAC mode: no
  // session; the agent's loop then agrees one).
  bool wants_session() const { return wants_session_.load(); }
  uint64_t reports_acknowledged() const { return acknowledged_.load(); }
  uint64_t reports_dropped() const { return dropped_.load(); }

 private:
  struct StatusAnswer {
    bool success = false;
    uint64_t seq = 0;
    std::string code, reason;  // !success
  };
  // Delivers one install report (see the file comment).
  void Deliver(const std::string& json, const std::function<bool()>& stopping);
  // The answer to `seq` until `until` (steady ms); nullopt on timeout or stop.
  std::optional<StatusAnswer> AwaitAnswer(uint64_t seq, double until,
                                          const std::function<bool()>& stopping);
  void Backoff(const std::function<bool()>& stopping);

  FirmwareChannelOptions o_;
  FirmwareChannelHooks hooks_;
  std::string code_topic_, status_topic_, success_topic_, error_topic_;
  std::string unauth_topic_, forbidden_topic_;
  uint32_t backoff_ms_ = 0;
  std::atomic<bool> wants_session_{false};
  std::atomic<uint64_t> acknowledged_{0};
  std::atomic<uint64_t> dropped_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> manifests_;  // guarded by mu_
  std::deque<StatusAnswer> answers_;   // guarded by mu_
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_FIRMWARE_CHANNEL_H_
