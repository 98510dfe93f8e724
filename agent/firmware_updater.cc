#include "agent/firmware_updater.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sha256.h"

namespace provledger::agent {
namespace {

namespace dp = device_protocol;

constexpr char kStateFile[] = "firmware_state.json";
constexpr char kStagedFile[] = "image.staged";
constexpr size_t kMaxHandled = 32;
constexpr size_t kChunk = 64 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

StatusOr<std::map<std::string, Bytes>> ParseVendorKeys(const std::vector<std::string>& values) {
  std::map<std::string, Bytes> keys;
  for (const std::string& v : values) {
    const size_t colon = v.find(':');
    if (colon == std::string::npos) {
      return InvalidArgumentError("--vendor_key '" + v + "' is not VENDOR:HEX");
    }
    const std::string vendor = v.substr(0, colon);
    if (!ledger::IsValidName(vendor)) {
      return InvalidArgumentError("--vendor_key '" + vendor + "': not a vendor name");
    }
    StatusOr<Bytes> key = HexDecodeFixed(v.substr(colon + 1), 33);
    if (!key.ok() || !ValidatePublicKey(*key).ok()) {
      return InvalidArgumentError("--vendor_key " + vendor + ": not 66 hex of a public key");
    }
    keys[vendor] = *key;
  }
  return keys;
}

StatusOr<std::string> LocalImagePath(const std::string& location) {
  if (!location.empty() && location[0] == '/') return location;
  const std::string kFile = "file://";
  if (location.compare(0, kFile.size(), kFile) != 0) {
    const size_t colon = location.find("://");
    const std::string scheme =
        colon == std::string::npos ? "none (not a path either)" : location.substr(0, colon);
    return InvalidArgumentError("location scheme " + scheme +
                                " is not supported: this agent fetches absolute paths and "
                                "file:// URLs only");
  }
  std::string rest = location.substr(kFile.size());
  if (rest.compare(0, 9, "localhost") == 0) rest = rest.substr(9);
  if (rest.empty() || rest[0] != '/') {
    return InvalidArgumentError("file:// location names a remote host or no absolute path");
  }
  std::string path;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      path += rest[i];
      continue;
    }
    if (i + 2 >= rest.size() || HexValue(rest[i + 1]) < 0 || HexValue(rest[i + 2]) < 0) {
      return InvalidArgumentError("file:// location has a bad %-escape");
    }
    const char c = static_cast<char>(HexValue(rest[i + 1]) * 16 + HexValue(rest[i + 2]));
    if (c == '\0') return InvalidArgumentError("file:// location decodes to a NUL");
    path += c;
    i += 2;
  }
  return path;
}

StatusOr<std::unique_ptr<FirmwareUpdater>> FirmwareUpdater::Open(FirmwareOptions o) {
  if (!ledger::IsValidName(o.device)) return InvalidArgumentError("device is not a valid name");
  if (!ledger::IsValidName(o.model)) return InvalidArgumentError("model is not a valid name");
  if (o.vendor_keys.empty()) return InvalidArgumentError("no vendor key given");
  for (const auto& [vendor, key] : o.vendor_keys) {
    if (!ledger::IsValidName(vendor)) {
      return InvalidArgumentError("vendor '" + vendor + "' is not a valid name");
    }
    Status s = ValidatePublicKey(key);
    if (!s.ok()) return s.Annotate("key of vendor " + vendor);
  }
  if (o.state_dir.empty()) return InvalidArgumentError("no state dir given");
  if (o.install_command.empty()) return InvalidArgumentError("no install command given");
  if (::access(o.install_command.c_str(), X_OK) != 0) {
    return InvalidArgumentError(ErrnoText("install command", o.install_command, errno));
  }
  if (o.install_timeout_ms == 0) return InvalidArgumentError("install timeout must be above 0");
  if (::mkdir(o.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return InternalError(ErrnoText("mkdir", o.state_dir, errno));
  }
  auto u = std::make_unique<FirmwareUpdater>(Token(), std::move(o));
  PL_RETURN_IF_ERROR(u->Load());
  return u;
}

Status FirmwareUpdater::Load() {
  const std::string path = options_.state_dir + "/" + kStateFile;
  auto bytes = ReadFile(path);
  if (!bytes.ok()) {
    return bytes.status().code() == StatusCode::kNotFound ? OkStatus() : bytes.status();
  }
  auto corrupt = [&](const std::string& why) { return DataLossError(path + ": " + why); };
  auto doc = ParseJson(*bytes);
  if (!doc.ok() || !doc->is_object()) return corrupt("not a JSON object");
  auto vendor = doc->GetString("vendor");
  auto version = doc->GetString("version");
  auto counter = doc->GetInt("counter");
  auto handled = doc->GetArray("handled");
  if (!vendor.ok() || !version.ok() || !counter.ok() || !handled.ok()) {
    return corrupt("vendor, version, counter or handled missing");
  }
  state_.vendor = *vendor;
  state_.version = *version;
  state_.counter = *counter;
  for (const JsonValue& h : (*handled)->items()) {
    auto d = h.is_string() ? HexDecodeFixed(h.string_value(), kSha256Size)
                           : StatusOr<Bytes>(InvalidArgumentError("not a string"));
    if (!d.ok()) return corrupt("a handled digest is not 64 hex digits");
    handled_.push_back(*d);
  }
  return OkStatus();
}

Status FirmwareUpdater::Save() const {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("vendor", JsonValue::String(state_.vendor));
  o.Set("version", JsonValue::String(state_.version));
  o.Set("counter", JsonValue::Int(state_.counter));
  JsonValue handled = JsonValue::Array();
  for (const Bytes& h : handled_) handled.Push(JsonValue::String(HexEncode(h)));
  o.Set("handled", std::move(handled));
  return WriteFileAtomically(options_.state_dir + "/" + kStateFile, WriteJsonPretty(o) + "\n",
                             0600);
}

FirmwareUpdater::Outcome FirmwareUpdater::Check(const dp::FirmwareManifest& m) const {
  auto key = options_.vendor_keys.find(m.vendor);
  if (key == options_.vendor_keys.end()) {
    return {false, true, "vendor '" + m.vendor + "' is not one this device holds a key of"};
  }
  Status sig = dp::VerifyFirmwareManifest(m, key->second);
  if (!sig.ok())
    return {false, true, "signature does not verify with vendor " + m.vendor + "'s key"};
  if (m.model != options_.model) {
    return {false, true,
            "manifest is for model '" + m.model + "', this device is '" + options_.model + "'"};
  }
  if (m.counter <= state_.counter) {
    return {false, true,
            "rollback: counter " + std::to_string(m.counter) + " is not above the installed " +
                std::to_string(state_.counter) +
                (state_.version.empty() ? "" : " (version " + state_.version + ")")};
  }
  return {true, true, ""};
}

FirmwareUpdater::Outcome FirmwareUpdater::Stage(const dp::FirmwareManifest& m,
                                                const std::string& staged) const {
  auto path = LocalImagePath(m.location);
  if (!path.ok()) return {false, true, path.status().message()};
  const int in = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return {false, false, ErrnoText("cannot open image", *path, errno)};
  FdCloser close_in(in);
  ::unlink(staged.c_str());
  const int out = ::open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) return {false, false, ErrnoText("cannot create", staged, errno)};
  FdCloser close_out(out);
  Sha256Hasher hasher;
  std::vector<char> buf(kChunk);
  uint64_t total = 0;
  while (true) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {false, false, ErrnoText("cannot read image", *path, errno)};
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > m.size) {
      return {false, true,
              "image is larger than the manifest's size " + std::to_string(m.size) + " bytes"};
    }
    hasher.Update(ByteView(buf.data(), static_cast<size_t>(n)));
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return {false, false, ErrnoText("cannot write", staged, errno)};
      done += w;
    }
  }
  if (total != m.size) {
    return {false, true,
            "image is " + std::to_string(total) + " bytes, the manifest says " +
                std::to_string(m.size)};
  }
  if (hasher.Finish() != m.sha256) {
    return {false, true, "image does not hash to the manifest's sha256"};
  }
  if (::fsync(out) != 0 || close_out.Close() != 0) {
    return {false, false, ErrnoText("cannot sync", staged, errno)};
  }
  return {true, true, ""};
}

FirmwareUpdater::Outcome FirmwareUpdater::Install(const std::string& staged) const {
  const std::string& cmd = options_.install_command;
  std::vector<char*> argv = {const_cast<char*>(cmd.c_str()), const_cast<char*>(staged.c_str()),
                             nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) return {false, false, ErrnoText("cannot fork for", cmd, errno)};
  if (pid == 0) {
    ::dup2(2, 1);  // the command's output goes to our stderr, never into a report on stdout
    ::execv(cmd.c_str(), argv.data());
    ::_exit(127);
  }
  const uint64_t deadline = SteadyMs() + options_.install_timeout_ms;
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return {false, false, ErrnoText("waitpid for", cmd, errno)};
    if (SteadyMs() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return {false, true,
              "install command did not finish within " +
                  std::to_string(options_.install_timeout_ms) + " ms (killed)"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, true, ""};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return {false, false, "install command could not be run (exit 127)"};
  }
  if (WIFEXITED(status)) {
    return {false, true,
            "install command failed with exit status " + std::to_string(WEXITSTATUS(status))};
  }
  return {false, true, "install command was ended by signal " + std::to_string(WTERMSIG(status))};
}

std::optional<dp::InstallReport> FirmwareUpdater::OnManifest(ByteView payload) {
  auto m = dp::ParseFirmwareManifest(payload);
  if (!m.ok()) {
    LogWarn("firmware_manifest_malformed")
        .Kv("device", options_.device)
        .Kv("err", m.status().ToString());
    return std::nullopt;
  }
  const Bytes id = Sha256(dp::FirmwareManifestJson(*m));
  for (const Bytes& h : handled_) {
    if (h == id) return std::nullopt;
  }
  Outcome out = Check(*m);
  const std::string staged = options_.state_dir + "/" + kStagedFile;
  if (out.installed) out = Stage(*m, staged);
  if (out.installed) out = Install(staged);
  ::unlink(staged.c_str());
  dp::InstallReport report{m->vendor, m->model, m->version, m->counter, out.installed, out.reason};
  if (out.installed) {
    report.reason =
        "installed version " + m->version + " (counter " + std::to_string(m->counter) + ")";
    state_.vendor = m->vendor;
    state_.version = m->version;
    state_.counter = m->counter;
  }
  if (out.permanent) {
    handled_.push_back(id);
    while (handled_.size() > kMaxHandled) handled_.pop_front();
  } else {
    report.reason += " (transient: tried again when the manifest comes again)";
  }
  Status saved = Save();
  if (!saved.ok()) {
    LogError("firmware_state_not_saved").Kv("err", saved.ToString());
    if (out.installed) report.reason += "; warning: the installed counter could not be saved";
  }
  LogInfo(out.installed ? "firmware_installed" : "firmware_refused")
      .Kv("device", options_.device)
      .Kv("vendor", m->vendor)
      .Kv("version", m->version)
      .Kv("counter", m->counter)
      .Kv("reason", report.reason);
  return report;
}

}  // namespace provledger::agent
