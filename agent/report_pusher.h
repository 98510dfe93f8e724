// ReportPusher: delivers one integrity report (PROTOCOL.md section 7) to the bridge and
// waits for its answer, as a device: agrees a session key first in MAC mode (section 4;
// renewed before it expires and after `no_session`), signs each message with pl-seq,
// pl-ts and pl-kid/pl-mac or pl-sig (item "_integrity"), and publishes QoS 1 to
// {prefix}/{device}/integrity.
//
// Every send takes a new pl-seq from the StateStore, durable before the publish (a seq is
// never published twice). A verdict for any seq this report was sent under acknowledges
// it. Transient failures (no answer in time, the broker down, internal, stale, replay,
// unregistered) are retried with exponential backoff and a new seq; malformed and
// too_large refuse this report for good (kDropped: the caller moves past it); bad_auth
// stops the agent (kPermissionDenied).
//
// Thread rules: Deliver runs on one thread; OnAnswer may be called from any thread (the
// MQTT callback) and only queues; Authenticate and has_session from any thread.
#ifndef PROVLEDGER_AGENT_REPORT_PUSHER_H_
#define PROVLEDGER_AGENT_REPORT_PUSHER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent_state.h"
#include "agent/bridge_answers.h"
#include "common/mqtt_client.h"
#include "common/signer.h"
#include "common/status.h"
#include "device_protocol/account.h"
#include "device_protocol/integrity_report.h"
#include "device_protocol/key_agreement.h"

namespace provledger::agent {

enum class AuthMode { kMac, kSig };

struct PusherOptions {
  std::string device;
  std::string topic_prefix = "devices";
  AuthMode auth = AuthMode::kMac;
  device_protocol::GatewayTrust trust;
  uint32_t key_timeout_ms = 10000;     // wait for key/success before asking again
  uint32_t answer_timeout_ms = 30000;  // wait for a verdict before sending again
  uint32_t backoff_min_ms = 500;       // first wait after a transient failure
  uint32_t backoff_max_ms = 30000;     // doubling up to this
  // Accounts (docs/ACCOUNTS.md) of the reports sent: one every `account_every` reports
  // and/or `account_interval_ms`; 0 and 0: none.
  uint32_t account_every = 0;
  uint32_t account_interval_ms = 0;
};

// Publishes one message (QoS 1, retain 0). The agent's is MqttClient::Publish.
using PublishFn = std::function<Status(const std::string& topic, const std::string& payload,
                                       const UserProperties& props)>;

// How a report ended.
struct Delivery {
  enum class Kind { kAppraised, kDropped };
  Kind kind = Kind::kAppraised;
  uint64_t seq = 0;       // the seq answered
  Verdict verdict;        // kAppraised
  std::string code;       // kDropped: the refusal code
  std::string reason;     // kDropped
  uint32_t attempts = 0;  // reports published
};

class ReportPusher {
 public:
  // `signer` (the device key: a key file or a token) and `store` outlive the pusher.
  ReportPusher(PusherOptions options, const Signer& signer, StateStore* store, PublishFn publish,
               device_protocol::RandomSource random);

  // The answer topics to subscribe to before the first Deliver.
  std::vector<std::string> AnswerTopics() const;

  // Queues a message that came on one of AnswerTopics().
  void OnAnswer(const MqttMessage& m);

  // Delivers `report` (see the file comment) until it is answered or `stopping()` turns
  // true (checked at least every 200 ms; kCancelled then) or `deadline_ms` (steady clock,
  // 0: none) passes (kDeadlineExceeded). kPermissionDenied after bad_auth (the key file is
  // not the registered key), a key reply that does not verify against the gateway trust, or
  // a signer failing for good (a token refusing the PIN, another key); a signer failing
  // kUnavailable (token busy, unplugged) is retried like an outage. kInternal if the state
  // file cannot be written (no seq is then used).
  StatusOr<Delivery> Deliver(const device_protocol::IntegrityReport& report,
                             const std::function<bool()>& stopping, double deadline_ms = 0);

  // The pl- headers for another message of this device, e.g. an install report (item
  // "_update", PROTOCOL.md section 8): a new seq from the same StateStore (a device has one
  // sequence) and a MAC under the current session, or a signature in kSig mode. Answers to
  // it are the caller's. kUnavailable in MAC mode while no session is agreed (try again
  // once Deliver agreed one; also when the signer is kUnavailable); kPermissionDenied when
  // the signer fails for good; kInternal if the state file cannot be written.
  StatusOr<UserProperties> Authenticate(const std::string& item, const std::string& payload);

  // In MAC mode, agrees a session unless one is usable (so Authenticate can serve another
  // message while no report is due); OK at once in kSig mode. Errors as AgreeSession's: OK,
  // kPermissionDenied (permanent), kCancelled, or another error (try again later). Call from
  // the thread that calls Deliver.
  Status EnsureSession(const std::function<bool()>& stopping, double deadline_ms = 0);
  // Forgets the session (the bridge answered no_session to another message): Authenticate
  // is kUnavailable until Deliver or EnsureSession agrees a new one. Any thread.
  void ForgetSession() { DropSession(); }

  bool has_session() const;
  uint64_t sessions_agreed() const { return sessions_agreed_; }

  // Publishes an account (docs/ACCOUNTS.md) of the reports sent since the last one when
  // account_every reports or account_interval_ms have passed, or with `flush` whenever one is
  // pending. Fire and forget (logged `account_sent`); in MAC mode only under a usable session
  // (else the reports stay pending). Call from the thread that calls Deliver.
  void MaybeSendAccount(bool flush);

 private:
  enum class Kind { kKeySuccess, kKeyFail, kUnauth, kForbidden, kVerdict, kError };
  struct Answer {
    Kind kind;
    std::string payload;
  };
  // Waits for the next answer until `until` (steady ms); nullopt on timeout or stop.
  std::optional<Answer> NextAnswer(double until, const std::function<bool()>& stopping);
  // Agrees a session. OK, kPermissionDenied (permanent), or another error (retry).
  Status AgreeSession(const std::function<bool()>& stopping, double deadline_ms);
  bool SessionUsable() const;
  void DropSession();
  // The lowest seq to take now: the clock in us for a first seq or after a `replay`.
  uint64_t SeqFloor() const;
  void Backoff(const std::function<bool()>& stopping, double deadline_ms);

  PusherOptions o_;
  const Signer& signer_;
  StateStore* store_;
  PublishFn publish_;
  device_protocol::RandomSource random_;
  mutable std::mutex session_mu_;
  std::optional<device_protocol::Session> session_;  // guarded by session_mu_
  uint64_t session_renew_at_ = 0;                    // wall clock ms; guarded by session_mu_
  uint64_t sessions_agreed_ = 0;
  uint32_t backoff_ms_ = 0;
  std::atomic<uint64_t> seq_floor_{0};  // after a `replay`: the clock in microseconds
  // Accounts: the Deliver thread only.
  device_protocol::AccountChain chain_;
  uint64_t since_account_ = 0;
  double account_due_ = 0;  // steady ms

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Answer> inbox_;           // guarded by mu_
  std::map<std::string, Kind> kinds_;  // answer topic -> kind; immutable after construction
};

// Microseconds since the epoch: a first seq for a device without one (section 5).
uint64_t NowMicros();
// The steady clock in ms.
double SteadyNowMs();

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_REPORT_PUSHER_H_
