// firmware_apply: one manifest through the agent's firmware checks (agent/firmware_updater.h),
// for scripts and tests (the agent daemon runs the same updater: docs/AGENT.md). Prints the
// section 8 install report JSON on stdout; with --report also publishes it, signed with the
// device key, to devices/{device}/update/status and prints the bridge's answer as a second
// line.
//
// Exit: 0 installed, 1 refused, 2 usage or setup error, 3 manifest already handled (nothing
// reported), 4 (--report) the report was not acknowledged on update/status/success.
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "agent/firmware_updater.h"
#include "common/bytes.h"
#include "common/command_line.h"
#include "common/file_io.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/mqtt_client.h"
#include "common/mqtt_flags.h"
#include "device_protocol/firmware_manifest.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"

ABSL_FLAG(std::string, manifest, "", "FILE: the manifest JSON (as received on update/code)");
ABSL_FLAG(std::vector<std::string>, vendor_key, {},
          "VENDOR:HEX (66 hex) a vendor key the device holds; repeatable or a comma list");
ABSL_FLAG(std::string, device, "", "this device's id");
ABSL_FLAG(std::string, model, "", "this device's model");
ABSL_FLAG(std::string, state_dir, "", "DIR of the installed counter (firmware_state.json)");
ABSL_FLAG(std::string, install_command, "", "executable run with the image path as argument");
ABSL_FLAG(uint32_t, install_timeout_ms, 300000, "kill the install command after this long");
ABSL_FLAG(bool, report, false, "also publish the report on update/status and await the answer");
ABSL_FLAG(std::string, device_key, "", "--report: the device's private key FILE (signs)");
ABSL_FLAG(std::string, broker, "tcp://127.0.0.1:1883", "--report: MQTT broker URI");
ABSL_FLAG(std::string, topic_prefix, "devices", "--report: topic prefix");
ABSL_FLAG(uint64_t, seq, 0, "--report: pl-seq of the report (0: the current time in ms)");
ABSL_FLAG(uint32_t, answer_timeout_ms, 30000, "--report: wait this long for the answer");

namespace provledger::agent {
namespace {

namespace dp = device_protocol;

const std::vector<std::string> kFlags = {"manifest",
                                         "vendor_key",
                                         "device",
                                         "model",
                                         "state_dir",
                                         "install_command",
                                         "install_timeout_ms",
                                         "report",
                                         "device_key",
                                         "broker",
                                         "broker_ca",
                                         "broker_cert",
                                         "broker_key",
                                         "broker_user",
                                         "broker_password_file",
                                         "topic_prefix",
                                         "seq",
                                         "answer_timeout_ms"};

// Publishes `report` signed and waits for the bridge's answer; returns the answer's topic
// suffix ("success" or "error") and payload in *answer.
Status Publish(const std::string& device, const std::string& report, std::string* answer,
               bool* acked) {
  PL_ASSIGN_OR_RETURN(std::string key_path, Require(FLAGS_device_key));
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(key_path));
  const std::string prefix = absl::GetFlag(FLAGS_topic_prefix);
  const std::string topic = prefix + "/" + device + "/update/status";
  std::mutex mu;
  std::condition_variable cv;
  std::optional<MqttMessage> got;
  MqttOptions mo;
  mo.uri = absl::GetFlag(FLAGS_broker);
  PL_ASSIGN_OR_RETURN(mo.security, BrokerSecurityFromFlags());
  PL_ASSIGN_OR_RETURN(auto mqtt, MqttClient::Connect(mo, [&](MqttMessage m) {
                        std::lock_guard<std::mutex> lock(mu);
                        if (!got) got = std::move(m);
                        cv.notify_all();
                      }));
  // Answers are not retained: subscribe before publishing (section 3).
  PL_RETURN_IF_ERROR(mqtt->Subscribe(
      {dp::UpdateStatusSuccessTopic(prefix, device), dp::UpdateStatusErrorTopic(prefix, device),
       prefix + "/" + device + "/unauth", prefix + "/" + device + "/forbidden"},
      1, 10000));
  dp::MessageSpec spec;
  spec.device = device;
  spec.item = std::string(ledger::kUpdateItem);
  spec.ts = NowMs();
  spec.seq = absl::GetFlag(FLAGS_seq) == 0 ? spec.ts : absl::GetFlag(FLAGS_seq);
  PL_ASSIGN_OR_RETURN(UserProperties props, dp::SigProperties(spec, report, key));
  PL_RETURN_IF_ERROR(mqtt->PublishAndWait(topic, report, 1, false, props));
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::milliseconds(absl::GetFlag(FLAGS_answer_timeout_ms)),
              [&] { return got.has_value(); });
  if (!got) return DeadlineExceededError("no answer on " + topic + "/success or /error");
  *answer = got->topic + " " + got->payload;
  *acked = got->topic == dp::UpdateStatusSuccessTopic(prefix, device);
  lock.unlock();
  mqtt->Disconnect();
  return OkStatus();
}

StatusOr<int> Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1, {"vendor_key"}));
  if (cl.help) {
    std::fputs(
        "usage: firmware_apply --manifest=FILE --vendor_key=VENDOR:HEX[,...] --device=ID "
        "--model=M\n        --state_dir=DIR --install_command=PATH [--report --device_key=FILE "
        "...]\n",
        stdout);
    PrintFlagHelp(stdout, kFlags);
    return 0;
  }
  if (!cl.positional.empty()) {
    return InvalidArgumentError("unexpected argument '" + cl.positional[0] + "'");
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  FirmwareOptions o;
  PL_ASSIGN_OR_RETURN(o.device, Require(FLAGS_device));
  PL_ASSIGN_OR_RETURN(o.model, Require(FLAGS_model));
  PL_ASSIGN_OR_RETURN(o.vendor_keys, ParseVendorKeys(absl::GetFlag(FLAGS_vendor_key)));
  PL_ASSIGN_OR_RETURN(o.state_dir, Require(FLAGS_state_dir));
  PL_ASSIGN_OR_RETURN(o.install_command, Require(FLAGS_install_command));
  o.install_timeout_ms = absl::GetFlag(FLAGS_install_timeout_ms);
  PL_ASSIGN_OR_RETURN(std::string manifest_path, Require(FLAGS_manifest));
  PL_ASSIGN_OR_RETURN(Bytes manifest, ReadFile(manifest_path));
  PL_ASSIGN_OR_RETURN(auto updater, FirmwareUpdater::Open(std::move(o)));
  auto report = updater->OnManifest(manifest);
  if (!report) {
    std::fprintf(stderr, "firmware_apply: manifest already handled (or not a manifest)\n");
    return 3;
  }
  const std::string json = dp::InstallReportJson(*report);
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
  if (absl::GetFlag(FLAGS_report)) {
    std::string answer;
    bool acked = false;
    Status s = Publish(absl::GetFlag(FLAGS_device), json, &answer, &acked);
    if (!s.ok()) {
      std::fprintf(stderr, "firmware_apply: report: %s\n", s.ToString().c_str());
      return 4;
    }
    std::printf("%s\n", answer.c_str());
    if (!acked) return 4;
  }
  return report->installed ? 0 : 1;
}

}  // namespace
}  // namespace provledger::agent

int main(int argc, char** argv) {
  auto rc = provledger::agent::Run(argc, argv);
  if (!rc.ok()) {
    std::fprintf(stderr, "firmware_apply: %s\n", rc.status().ToString().c_str());
    return 2;
  }
  return *rc;
}
