#include "agent/integrity_agent.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "agent/agent_metrics.h"
#include "agent/agent_state.h"
#include "agent/file_measurement_log.h"
#include "agent/file_measurer.h"
#include "agent/file_watcher.h"
#include "agent/firmware_channel.h"
#include "agent/measurement_cursor.h"
#include "agent/topic_router.h"
#include "common/file_io.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/worker.h"
#include "device_protocol/topics.h"

namespace provledger::agent {

namespace {

constexpr uint32_t kSubscribeTimeoutMs = 10000;
constexpr uint32_t kDataLossRetryMs = 60000;
constexpr uint32_t kConnectBackoffMaxMs = 30000;

void SleepUnlessStopped(uint32_t ms, const std::atomic<bool>& stop) {
  const double until = SteadyNowMs() + ms;
  while (!stop.load() && SteadyNowMs() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void LogBatchIssues(const PendingBatch& b) {
  for (const LineIssue& i : b.skipped) {
    LogWarn("line_skipped").Kv("boot", b.boot).Kv("line", i.line).Kv("reason", i.reason);
  }
  for (uint64_t line : b.violations) {
    LogWarn("ima_violation").Kv("boot", b.boot).Kv("line", line);
  }
}

}  // namespace

Status AgentOptions::Validate() const {
  if (!device_protocol::IsValidName(pusher.device)) {
    return InvalidArgumentError("--device must match [A-Za-z0-9_.-]{1,64}");
  }
  PL_RETURN_IF_ERROR(
      device_protocol::ValidateTopicPrefix(pusher.topic_prefix).Annotate("--topic_prefix"));
  if (source == Source::kFiles && watch.empty()) {
    return InvalidArgumentError("--source=files needs --watch PATH[,PATH...]");
  }
  if (hash != "sha256" && hash != "sm3")
    return InvalidArgumentError("--hash must be sha256 or sm3");
  if (batch == 0 || batch > device_protocol::kMaxReportEntries) {
    return InvalidArgumentError("--batch must be 1 .. " +
                                std::to_string(device_protocol::kMaxReportEntries));
  }
  if (max_report_bytes < 1024)
    return InvalidArgumentError("--max_report_bytes must be 1024 or more");
  if (state_dir.empty()) return InvalidArgumentError("--state_dir is required");
  if (poll_ms == 0) return InvalidArgumentError("--poll_ms must be above 0");
  if (firmware) {
    if (firmware_options.model.empty()) return InvalidArgumentError("--firmware needs --model");
    if (firmware_options.vendor_keys.empty()) {
      return InvalidArgumentError("--firmware needs --vendor_key VENDOR:HEX");
    }
    if (firmware_options.install_command.empty()) {
      return InvalidArgumentError("--firmware needs --install_command");
    }
  }
  return Status();
}

StatusOr<RunEnd> IntegrityAgent::Run(const std::atomic<bool>& stop) {
  PL_RETURN_IF_ERROR(o_.Validate());
  if (::mkdir(o_.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return InternalError(ErrnoText("mkdir", o_.state_dir, errno));
  }
  PL_ASSIGN_OR_RETURN(StateStore store, StateStore::Open(o_.state_dir + "/agent_state.json"));
  CursorOptions co;
  co.list_path =
      o_.source == Source::kIma ? o_.ima_list : o_.state_dir + "/file_measurements-{boot}.list";
  co.boot_id_path = o_.boot_id_path;
  co.max_entries = o_.batch;
  co.max_report_bytes = o_.max_report_bytes;
  MeasurementCursor cursor(co, &store);

  // Without IMA: the agent's own list for this boot, a first full scan, then inotify.
  std::unique_ptr<FileMeasurementLog> file_log;
  std::unique_ptr<FileMeasurer> measurer;
  std::unique_ptr<FileWatcher> watcher;
  if (o_.source == Source::kFiles) {
    PL_ASSIGN_OR_RETURN(std::string boot, ReadBootId(o_.boot_id_path));
    PL_ASSIGN_OR_RETURN(file_log, FileMeasurementLog::Open(cursor.ListPath(boot)));
    PL_ASSIGN_OR_RETURN(
        measurer, FileMeasurer::Create(FileMeasurerOptions{o_.watch, o_.hash}, file_log.get()));
    PL_ASSIGN_OR_RETURN(watcher, FileWatcher::Open(o_.watch));  // before the scan: no gap
    PL_ASSIGN_OR_RETURN(MeasureResult r, measurer->ScanAll());
    LogInfo("files_scanned")
        .Kv("boot", boot)
        .Kv("measured", static_cast<uint64_t>(r.measured))
        .Kv("recorded", static_cast<uint64_t>(r.recorded))
        .Kv("failed", static_cast<uint64_t>(r.failed))
        .Kv("folders_watched", static_cast<uint64_t>(watcher->watched_folders()))
        .Kv("list_entries", static_cast<uint64_t>(file_log->size()));
  }

  std::unique_ptr<MqttClient> mqtt;
  ReportPusher pusher(
      o_.pusher, *signer_, &store,
      [&mqtt](const std::string& topic, const std::string& payload, const UserProperties& props) {
        return mqtt->Publish(topic, payload, 1, false, props);
      },
      [](size_t n) { return RandomBytes(n); });
  TopicRouter router;  // every message from the broker arrives here, by topic
  for (const std::string& t : pusher.AnswerTopics()) {
    router.Add(t, [&pusher](const MqttMessage& m) { pusher.OnAnswer(m); });
  }
  std::unique_ptr<FirmwareUpdater> updater;
  std::unique_ptr<FirmwareChannel> firmware;
  if (o_.firmware) {
    FirmwareOptions fo = o_.firmware_options;
    fo.device = o_.pusher.device;
    fo.state_dir = o_.state_dir;  // firmware_state.json next to agent_state.json
    PL_ASSIGN_OR_RETURN(updater, FirmwareUpdater::Open(std::move(fo)));
    FirmwareChannelOptions co;
    co.device = o_.pusher.device;
    co.topic_prefix = o_.pusher.topic_prefix;
    co.answer_timeout_ms = o_.pusher.answer_timeout_ms;
    co.backoff_min_ms = o_.pusher.backoff_min_ms;
    co.backoff_max_ms = o_.pusher.backoff_max_ms;
    FirmwareChannelHooks hooks;
    hooks.on_manifest = [u = updater.get()](ByteView m) { return u->OnManifest(m); };
    hooks.authenticate = [&pusher](const std::string& item, const std::string& payload) {
      return pusher.Authenticate(item, payload);
    };
    hooks.publish = [&mqtt](const std::string& topic, const std::string& payload,
                            const UserProperties& props) {
      return mqtt->Publish(topic, payload, 1, false, props);
    };
    hooks.forget_session = [&pusher] { pusher.ForgetSession(); };
    firmware = std::make_unique<FirmwareChannel>(std::move(co), std::move(hooks));
    for (const std::string& t : firmware->Topics()) {
      router.Add(t, [f = firmware.get()](const MqttMessage& m) { f->OnMessage(m); });
    }
    for (const std::string& t : firmware->SharedTopics()) {  // refusals of either's messages
      router.Add(t, [f = firmware.get(), &pusher](const MqttMessage& m) {
        pusher.OnAnswer(m);
        f->OnMessage(m);
      });
    }
  }
  // Stops deliveries into router and pusher before they go, on every way out.
  struct Disconnector {
    std::unique_ptr<MqttClient>* client;
    ~Disconnector() {
      if (*client) (*client)->Disconnect();
    }
  } disconnector{&mqtt};
  MqttOptions mo;
  mo.uri = o_.broker;
  mo.security = o_.broker_security;
  mo.client_id = o_.client_id.empty() ? "pl-agent-" + o_.pusher.device : o_.client_id;
  mo.receive_maximum = 64;
  // A daemon waits for the broker (backing off); --once reports it (exit 1).
  for (uint32_t wait_ms = 500;; wait_ms = std::min<uint32_t>(wait_ms * 2, kConnectBackoffMaxMs)) {
    StatusOr<std::unique_ptr<MqttClient>> c =
        MqttClient::Connect(mo, [&router](MqttMessage m) { router.Dispatch(m); });
    if (c.ok()) {
      mqtt = std::move(c).value();
      break;
    }
    if (o_.once || stop.load()) return c.status();
    LogWarn("broker_unreachable").Kv("broker", o_.broker).Kv("retry_ms", wait_ms);
    SleepUnlessStopped(wait_ms, stop);
  }
  PL_RETURN_IF_ERROR(mqtt->Subscribe(router.Topics(), 1, kSubscribeTimeoutMs));
  // Destroyed (stopped, joined) before the client disconnects: it publishes through it.
  std::unique_ptr<Worker> firmware_worker;
  if (firmware) {
    firmware_worker = std::make_unique<Worker>("firmware", [f = firmware.get(), &stop](Worker& w) {
      f->Run([&w, &stop] { return w.stopping() || stop.load(); });
    });
  }
  LogInfo("agent_started")
      .Kv("device", o_.pusher.device)
      .Kv("broker", o_.broker)
      .Kv("source", o_.source == Source::kIma ? "ima" : "files")
      .Kv("auth", o_.pusher.auth == AuthMode::kMac ? "mac" : "sig")
      .Kv("firmware", o_.firmware ? "on" : "off")
      .Kv("boot", cursor.position().boot)
      .Kv("next_index", cursor.position().next_index)
      .Kv("next_seq", store.state().next_seq);

  const double deadline = o_.once ? SteadyNowMs() + static_cast<double>(o_.once_timeout_ms) : 0;
  auto stopping = [&stop] { return stop.load(); };
  bool missing_logged = false;
  uint64_t reports = 0;
  StatusOr<RunEnd> end = RunEnd::kDone;
  while (!stop.load()) {
    StatusOr<PendingBatch> batch = cursor.ReadNew();
    if (!batch.ok()) {
      const StatusCode code = batch.status().code();
      if (o_.once) {
        end = batch.status();
        break;
      }
      if (code == StatusCode::kNotFound) {
        if (!missing_logged) LogWarn("list_missing").Kv("error", batch.status().message());
        missing_logged = true;
        SleepUnlessStopped(o_.poll_ms, stop);
      } else {
        Metrics().failures.With({"list_unreadable"}).Inc();
        LogError("list_unreadable").Kv("error", batch.status().message());
        SleepUnlessStopped(code == StatusCode::kDataLoss ? kDataLossRetryMs : o_.poll_ms, stop);
      }
      continue;
    }
    missing_logged = false;
    LogBatchIssues(*batch);
    if (batch->entries.empty()) {
      PL_RETURN_IF_ERROR(cursor.Commit(*batch));  // past skipped lines only
      if (o_.once) break;
      if (firmware && firmware->wants_session()) {  // an install report waits for a session
        Status s = pusher.EnsureSession(stopping);
        if (s.code() == StatusCode::kPermissionDenied) {
          end = s;
          break;
        }
        if (!s.ok() && s.code() != StatusCode::kCancelled) {
          LogWarn("session_retry").Kv("device", o_.pusher.device).Kv("error", s.message());
        }
      }
      if (watcher) {
        PL_ASSIGN_OR_RETURN(FileChanges changes, watcher->Wait(static_cast<int>(o_.poll_ms)));
        if (changes.rescan) {
          PL_RETURN_IF_ERROR(measurer->ScanAll().status());
        } else if (!changes.files.empty()) {
          PL_RETURN_IF_ERROR(measurer->Measure(changes.files).status());
        }
      } else {
        SleepUnlessStopped(o_.poll_ms, stop);
      }
      continue;
    }
    StatusOr<Delivery> d = pusher.Deliver(batch->Report(), stopping, deadline);
    if (!d.ok()) {
      if (d.status().code() == StatusCode::kCancelled) break;
      LogError("agent_stopped_sending")
          .Kv("device", o_.pusher.device)
          .Kv("from", batch->from)
          .Kv("error", d.status().ToString());
      end = d.status();
      break;
    }
    ++reports;
    if (d->kind == Delivery::Kind::kAppraised) {
      Metrics().reports_settled.With({"appraised"}).Inc();
      Metrics().measurements.Inc(batch->entries.size());
      LogInfo("report_appraised")
          .Kv("device", o_.pusher.device)
          .Kv("seq", d->seq)
          .Kv("boot", batch->boot)
          .Kv("from", batch->from)
          .Kv("entries", static_cast<uint64_t>(batch->entries.size()))
          .Kv("verdict", d->verdict.verdict)
          .Kv("failures", static_cast<uint64_t>(d->verdict.failures.size()))
          .Kv("record", HexEncode(d->verdict.record))
          .Kv("height", d->verdict.height)
          .Kv("attempts", static_cast<uint64_t>(d->attempts));
    } else {
      // Never sent again; moving past it leaves a gap the bridge sees (from above its
      // count: untrusted), which is the honest outcome. docs/AGENT.md, "Refusals".
      Metrics().reports_settled.With({"dropped"}).Inc();
      LogError("report_dropped")
          .Kv("device", o_.pusher.device)
          .Kv("seq", d->seq)
          .Kv("from", batch->from)
          .Kv("entries", static_cast<uint64_t>(batch->entries.size()))
          .Kv("code", d->code)
          .Kv("reason", d->reason);
    }
    PL_RETURN_IF_ERROR(cursor.Commit(*batch));
    pusher.MaybeSendAccount(/*flush=*/o_.once);
  }
  pusher.MaybeSendAccount(/*flush=*/true);
  // The last account is fire and forget: let it reach the broker before the disconnect.
  if (mqtt) (void)mqtt->WaitForPublishes(5000);
  LogInfo("agent_stopping")
      .Kv("device", o_.pusher.device)
      .Kv("reports", reports)
      .Kv("next_index", cursor.position().next_index)
      .Kv("next_seq", store.state().next_seq);
  if (!end.ok()) return end.status();
  return stop.load() ? RunEnd::kStopped : RunEnd::kDone;
}

}  // namespace provledger::agent
