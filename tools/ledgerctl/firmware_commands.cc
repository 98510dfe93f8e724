// ledgerctl firmware: vendor-signed manifests (PROTOCOL.md section 8, docs/FIRMWARE.md).
//   firmware sign     writes a manifest for an image, signed with the vendor's key
//   firmware publish  records a manifest on the ledger (a kind 3 record, SubmitFirmware)
//   firmware list     the manifests recorded, newest counter first
//   firmware status   which device runs which version: each device's latest install report
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/file_io.h"
#include "common/key_file.h"
#include "common/sha256.h"
#include "device_protocol/firmware_manifest.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_DECLARE_FLAG(std::string, vendor);  // registry_commands.cc
ABSL_DECLARE_FLAG(std::string, model);   // registry_commands.cc

// Not --version: Abseil owns that name (it prints the build's version).
ABSL_FLAG(std::string, fw_version, "", "firmware sign: the image's version (semver 2.0.0)");
ABSL_FLAG(uint64_t, counter, 0, "firmware sign: the anti-rollback counter (above the last)");
ABSL_FLAG(std::string, image, "", "firmware sign: the image FILE (size and sha256 from it)");
ABSL_FLAG(std::string, location, "", "firmware sign: where devices fetch the image (URL)");
ABSL_FLAG(std::string, vendor_key, "", "firmware sign: the vendor's private key FILE");
ABSL_FLAG(std::string, manifest, "", "firmware publish: the manifest FILE (JSON)");
ABSL_FLAG(bool, latest, false, "firmware list: only the highest counter of each model");

namespace provledger::tools {
namespace {

namespace dp = device_protocol;

// Size and SHA-256 of the file at `path`, read in chunks.
Status HashImage(const std::string& path, uint64_t* size, Bytes* sha256) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return NotFoundError(ErrnoText("cannot open image", path, errno));
  Sha256Hasher h;
  std::vector<char> buf(1 << 16);
  *size = 0;
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    h.Update(ByteView(buf.data(), n));
    *size += n;
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return InternalError("cannot read image " + path);
  *sha256 = h.Finish();
  return OkStatus();
}

Status CmdSign(const Ctx& c) {
  dp::FirmwareManifest m;
  PL_ASSIGN_OR_RETURN(m.vendor, Require(FLAGS_vendor));
  PL_ASSIGN_OR_RETURN(m.model, Require(FLAGS_model));
  PL_ASSIGN_OR_RETURN(m.version, Require(FLAGS_fw_version));
  m.counter = absl::GetFlag(FLAGS_counter);
  if (m.counter == 0) return InvalidArgumentError("--counter is required (1 or more)");
  PL_ASSIGN_OR_RETURN(std::string image, Require(FLAGS_image));
  PL_ASSIGN_OR_RETURN(m.location, Require(FLAGS_location));
  PL_ASSIGN_OR_RETURN(std::string key_path, Require(FLAGS_vendor_key));
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(key_path));
  PL_RETURN_IF_ERROR(HashImage(image, &m.size, &m.sha256));
  PL_RETURN_IF_ERROR(dp::SignFirmwareManifest(key, &m));
  const std::string json = dp::FirmwareManifestJson(m) + "\n";
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fputs(json.c_str(), stdout);
  } else {
    PL_RETURN_IF_ERROR(WriteFileAtomically(out, json, 0644));
    if (!c.json) {
      std::fprintf(stderr, "manifest %s/%s %s (counter %llu, %llu bytes) written to %s\n",
                   m.vendor.c_str(), m.model.c_str(), m.version.c_str(),
                   static_cast<unsigned long long>(m.counter),
                   static_cast<unsigned long long>(m.size), out.c_str());
    }
  }
  return OkStatus();
}

Status CmdPublish(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string path, Require(FLAGS_manifest));
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  PL_ASSIGN_OR_RETURN(dp::FirmwareManifest m, dp::ParseFirmwareManifest(text));
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kFirmware;
  rec.firmware = dp::ToFirmwareRecord(m);
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::SubmitResponse resp, cl->SubmitFirmware(ledger::EncodeRecord(rec)));
  if (resp.results_size() != 1) return InternalError("node answered with no result");
  const v1::RecordResult& r = resp.results(0);
  if (r.outcome() == v1::RecordResult::REFUSED) {
    return Status(static_cast<StatusCode>(r.code()), r.reason());
  }
  const bool dup = r.outcome() == v1::RecordResult::DUPLICATE;
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("record_id", JsonValue::String(HexEncode(r.record_id())));
    o.Set("height", JsonValue::Int(r.height()));
    o.Set("duplicate", JsonValue::Bool(dup));
    PrintJson(o);
  } else {
    std::printf("manifest %s/%s %s (counter %llu) %s at height %llu as record %s\n",
                m.vendor.c_str(), m.model.c_str(), m.version.c_str(),
                static_cast<unsigned long long>(m.counter), dup ? "already recorded" : "recorded",
                static_cast<unsigned long long>(r.height()), HexEncode(r.record_id()).c_str());
  }
  return OkStatus();
}

Status CmdList(const Ctx& c) {
  v1::FirmwareQuery q;
  q.set_vendor(absl::GetFlag(FLAGS_vendor));
  q.set_model(absl::GetFlag(FLAGS_model));
  q.set_latest_only(absl::GetFlag(FLAGS_latest));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::FirmwareListing listing, cl->Firmware(q));
  JsonValue all = JsonValue::Array();
  for (const v1::FirmwareEntry& e : listing.manifests()) {
    PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(e.record()));
    const dp::FirmwareManifest m = dp::FromFirmwareRecord(rec.firmware);
    if (c.json) {
      PL_ASSIGN_OR_RETURN(JsonValue o, ParseJson(dp::FirmwareManifestJson(m)));
      o.Set("record_id", JsonValue::String(HexEncode(e.record_id())));
      o.Set("height", JsonValue::Int(e.height()));
      all.Push(std::move(o));
    } else {
      std::printf("%-16s %-16s %-12s counter %-6llu %10llu bytes  sha256 %s  height %llu  %s\n",
                  m.vendor.c_str(), m.model.c_str(), m.version.c_str(),
                  static_cast<unsigned long long>(m.counter),
                  static_cast<unsigned long long>(m.size), ShortHex(m.sha256).c_str(),
                  static_cast<unsigned long long>(e.height()), m.location.c_str());
    }
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("height", JsonValue::Int(listing.height()));
    o.Set("manifests", std::move(all));
    PrintJson(o);
  } else if (listing.manifests_size() == 0) {
    std::printf("no manifest recorded\n");
  }
  return OkStatus();
}

// Every "_update" record of `device`, in device-time order.
StatusOr<std::vector<v1::HistoryEntry>> Reports(client::LedgerClient* cl,
                                                const std::string& device) {
  v1::HistoryRequest req;
  req.set_device(device);
  req.set_item(std::string(ledger::kUpdateItem));
  req.set_limit(1000);
  std::vector<v1::HistoryEntry> all;
  while (true) {
    PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, cl->History(req));
    all.insert(all.end(), resp.entries().begin(), resp.entries().end());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return all;
}

// One install report as recorded: its record, height and decoded payload.
struct RecordedReport {
  Bytes record_id;
  uint64_t seq = 0;
  uint64_t height = 0;
  StatusOr<device_protocol::InstallReport> report = NotFoundError("no report");
};

StatusOr<RecordedReport> ReadReport(client::LedgerClient* cl, const v1::HistoryEntry& e) {
  v1::GetRecordRequest gr;
  gr.set_record_id(e.record_id());
  PL_ASSIGN_OR_RETURN(v1::RecordResponse rr, cl->GetRecord(gr));
  RecordedReport r;
  r.record_id = e.record_id();
  r.seq = e.seq();
  r.height = rr.height();
  r.report = rr.has_payload() ? device_protocol::ParseInstallReport(rr.payload())
                              : StatusOr<device_protocol::InstallReport>(NotFoundError(
                                    "the report's payload is not kept on the ledger"));
  return r;
}

JsonValue ReportJson(const RecordedReport& r) {
  JsonValue o = JsonValue::Object();
  o.Set("record_id", JsonValue::String(HexEncode(r.record_id)));
  o.Set("seq", JsonValue::Int(r.seq));
  o.Set("height", JsonValue::Int(r.height));
  if (!r.report.ok()) {
    o.Set("error", JsonValue::String(r.report.status().message()));
    return o;
  }
  o.Set("vendor", JsonValue::String(r.report->vendor));
  o.Set("model", JsonValue::String(r.report->model));
  o.Set("version", JsonValue::String(r.report->version));
  o.Set("counter", JsonValue::Int(r.report->counter));
  o.Set("result", JsonValue::String(r.report->installed ? "installed" : "refused"));
  o.Set("reason", JsonValue::String(r.report->reason));
  return o;
}

std::string ReportText(const RecordedReport& r) {
  if (!r.report.ok()) {
    return "report at height " + std::to_string(r.height) + ": " + r.report.status().message();
  }
  const auto& p = *r.report;
  return p.vendor + "/" + p.model + " " + p.version + " (counter " + std::to_string(p.counter) +
         ") " + (p.installed ? "installed" : "refused") + " at height " + std::to_string(r.height) +
         ": " + p.reason;
}

// Per device: the firmware it runs (its latest "installed" report) and, when a later report
// refused something, that report too.
Status CmdStatus(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::RegistryListing devices, cl->Devices(absl::GetFlag(FLAGS_device)));
  JsonValue all = JsonValue::Array();
  for (const v1::DeviceInfo& d : devices.devices()) {
    PL_ASSIGN_OR_RETURN(std::vector<v1::HistoryEntry> entries, Reports(cl.get(), d.id()));
    std::optional<RecordedReport> running, latest;
    for (auto it = entries.rbegin(); it != entries.rend() && !running; ++it) {
      PL_ASSIGN_OR_RETURN(RecordedReport r, ReadReport(cl.get(), *it));
      if (r.report.ok() && r.report->installed) {
        running = std::move(r);
      } else if (!latest) {
        latest = std::move(r);
      }
    }
    JsonValue o = JsonValue::Object();
    o.Set("device", JsonValue::String(d.id()));
    o.Set("registered_vendor", JsonValue::String(d.vendor()));
    o.Set("registered_model", JsonValue::String(d.model()));
    o.Set("running", running ? ReportJson(*running) : JsonValue());
    o.Set("latest_refusal", latest ? ReportJson(*latest) : JsonValue());
    if (c.json) {
      all.Push(std::move(o));
      continue;
    }
    std::string line = d.id() + ": ";
    line += running ? "runs " + ReportText(*running)
                    : "no install recorded (registered " + d.vendor() + "/" + d.model() + ")";
    if (latest) line += "\n    since then: " + ReportText(*latest);
    std::printf("%s\n", line.c_str());
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("devices", std::move(all));
    PrintJson(o);
  }
  return OkStatus();
}

}  // namespace

CommandGroup FirmwareCommands() {
  std::vector<std::string> list = {"vendor", "model", "latest"};
  list.insert(list.end(), kNodeFlags.begin(), kNodeFlags.end());
  std::vector<std::string> publish = {"manifest"};
  publish.insert(publish.end(), kNodeFlags.begin(), kNodeFlags.end());
  std::vector<std::string> status = {"device"};
  status.insert(status.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"firmware (vendor-signed manifests, PROTOCOL.md section 8; docs/FIRMWARE.md)",
          {{"firmware sign",
            "--vendor=V --vendor_key=FILE --model=M --fw_version=SEMVER --counter=N\n"
            "        --image=FILE --location=URL [--out=FILE]",
            "writes a manifest (stdout, or --out) for the image: size and sha256 from the file,\n"
            "signed with the vendor's key over section 8's digest",
            {"vendor", "vendor_key", "model", "fw_version", "counter", "image", "location", "out"},
            [](const Ctx& c) { return Done(CmdSign(c)); }},
           {"firmware publish", "--manifest=FILE",
            "records the manifest on the ledger (kind 3; the node checks the registered vendor's\n"
            "signature and that the counter is above every recorded one); prints record id, height",
            publish, [](const Ctx& c) { return Done(CmdPublish(c)); }},
           {"firmware list", "[--vendor=V [--model=M]] [--latest]",
            "the manifests recorded, by vendor and model, newest counter first", list,
            [](const Ctx& c) { return Done(CmdList(c)); }},
           {"firmware status", "[--device=D]",
            "which device runs which version: each device's latest install report (item _update)\n"
            "with its result and height",
            status, [](const Ctx& c) { return Done(CmdStatus(c)); }}}};
}

}  // namespace provledger::tools
