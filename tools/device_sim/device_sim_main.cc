// device_sim: simulates MQTT v5 devices speaking PROTOCOL.md (device_sim --help lists the flags).
// Prints one JSON summary line on stdout; exit 0 only when the run met its expectation.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "common/file_io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/pkcs11_signer.h"
#include "common/signer.h"
#include "tools/device_sim/device_keys.h"
#include "tools/device_sim/report_sender.h"
#include "tools/device_sim/sim_options.h"
#include "tools/device_sim/sim_runner.h"

namespace provledger::device_sim {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSetup = 3;

int Setup(const Status& s, const char* what) {
  std::fprintf(stderr, "device_sim: %s: %s\n", what, s.ToString().c_str());
  return kExitSetup;
}

// --integrity_report: one report, its answer printed as
// {"device":..,"seq":N,"topic":..,"latency_ms":N,"answer":{...}}; exit 0 on a verdict.
int SendReport(const SimOptions& o, const Signer& key) {
  std::string report;
  if (o.integrity_report == "-") {
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) report.append(buf, n);
  } else {
    StatusOr<Bytes> r = ReadFile(o.integrity_report);
    if (!r.ok()) return Setup(r.status(), "--integrity_report");
    report = std::move(r).value();
  }
  StatusOr<ReportAnswer> a = SendIntegrityReport(o, key, report);
  if (!a.ok()) return Setup(a.status(), "integrity report");
  JsonValue out = JsonValue::Object();
  out.Set("device", JsonValue::String(o.DeviceName(0)));
  out.Set("seq", JsonValue::Int(a->seq));
  out.Set("topic", JsonValue::String(a->topic));
  out.Set("latency_ms", JsonValue::Int(a->latency_ms));
  StatusOr<JsonValue> answer = ParseJson(a->payload);
  out.Set("answer", answer.ok() ? *answer : JsonValue::String(a->payload));
  std::printf("%s\n", WriteJson(out).c_str());
  std::fflush(stdout);
  return a->verdict ? 0 : kExitFailed;
}

int Main(int argc, char** argv) {
  bool help = false;
  StatusOr<SimOptions> parsed = ParseOptions(argc, argv, &help);
  if (help) {
    PrintUsage(stdout);
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "device_sim: %s\n(run 'device_sim --help')\n",
                 parsed.status().message().c_str());
    return kExitUsage;
  }
  SimOptions o = std::move(parsed).value();
  SetLogContext("device_sim", o.device_prefix);

  std::vector<std::unique_ptr<Signer>> keys;
  std::vector<SentMessage> replay;
  if (!o.replay_from.empty()) {
    StatusOr<std::vector<SentMessage>> r = ReadReplayFile(o.replay_from);
    if (!r.ok()) return Setup(r.status(), "--replay_from");
    replay = std::move(r).value();
  } else {
    std::vector<std::pair<std::string, Bytes>> pubkeys;
    if (o.token_key.has_value()) {
      StatusOr<std::unique_ptr<Signer>> k = OpenPkcs11Signer(*o.token_key);
      if (!k.ok()) return Setup(k.status(), "device key in token");
      keys.push_back(std::move(k).value());
    } else {
      for (uint64_t i = 0; i < o.devices; ++i) {
        StatusOr<PrivateKey> k = LoadOrCreateDeviceKey(o.keys_dir, o.DeviceName(i));
        if (!k.ok()) return Setup(k.status(), "device key");
        keys.push_back(std::make_unique<LocalSigner>(std::move(k).value()));
      }
    }
    for (uint64_t i = 0; i < o.devices; ++i) {
      pubkeys.emplace_back(o.DeviceName(i), keys[i]->public_key());
    }
    if (o.do_register) {
      StatusOr<RegistrationReport> rep =
          RegisterDevices(o.nodes, o.genesis_path, o.admin_key_path, pubkeys);
      if (!rep.ok()) return Setup(rep.status(), "--register");
      std::fprintf(stderr, "device_sim: registered %zu devices, %zu already registered\n",
                   rep->registered, rep->skipped);
      o.just_registered = rep->registered > 0;
    }
  }
  if (o.mode == AuthMode::kMac && o.replay_from.empty() && o.fault != Fault::kNoSession) {
    if (!o.gateway_pubkey && !o.gateway_id.empty() && !o.nodes.empty()) {
      StatusOr<Bytes> gk = LookupGatewayKey(o.nodes, o.gateway_id);
      if (!gk.ok()) return Setup(gk.status(), "--gateway_id");
      o.gateway_pubkey = *gk;
    }
    if (!o.gateway_pubkey) {
      std::fprintf(stderr,
                   "device_sim: no --gateway_pubkey: key replies are checked by kid only, "
                   "not by signature\n");
    }
  }

  if (!o.integrity_report.empty()) return SendReport(o, *keys.front());
  SimRunner runner(o, std::move(keys), std::move(replay));
  StatusOr<Summary> summary = runner.Run();
  if (!summary.ok()) return Setup(summary.status(), "run");
  std::printf("%s\n", SummaryJson(*summary).c_str());
  std::fflush(stdout);
  if (summary->ok) {
    std::fprintf(stderr, "device_sim: OK (%llu readings, %llu recorded, %llu skipped%s)\n",
                 static_cast<unsigned long long>(summary->readings),
                 static_cast<unsigned long long>(summary->acked_recorded),
                 static_cast<unsigned long long>(summary->acked_skipped),
                 o.expect_error.empty() ? "" : (", all refused " + o.expect_error).c_str());
    return 0;
  }
  std::fprintf(stderr, "device_sim: FAILED: %s\n", summary->verdict.c_str());
  return kExitFailed;
}

}  // namespace
}  // namespace provledger::device_sim

int main(int argc, char** argv) { return provledger::device_sim::Main(argc, argv); }
