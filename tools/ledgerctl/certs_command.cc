// ledgerctl certs: a test CA and the TLS certificates of nodes, gateways, readers and admins
// (docs/SECURITY.md), for the demo, compose and the tests. Production operators use their
// own CA; the certificates only need the provledger: subjectAltName URI.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "common/file_io.h"
#include "common/key_file.h"
#include "common/tls_certs.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(std::string, dir, "", "certs: DIR to write ca.pem, ca.key and NAME.pem, NAME.key into");
ABSL_FLAG(std::vector<std::string>, hosts, std::vector<std::string>({"127.0.0.1", "localhost"}),
          "certs: IP addresses and DNS names every certificate serves under (subjectAltName)");
ABSL_FLAG(std::vector<std::string>, peers, {}, "certs: node ids to make peer certificates for");
ABSL_FLAG(std::vector<std::string>, gateways, {},
          "certs: gateway ids to make gateway certificates for (each may submit as itself)");
ABSL_FLAG(std::vector<std::string>, admins, {}, "certs: names to make admin certificates for");
ABSL_FLAG(std::vector<std::string>, readers, {},
          "certs: reader names, each NAME or NAME:DEV+DEV+... (limited to those devices)");
ABSL_FLAG(std::vector<std::string>, servers, {},
          "certs: names of servers that are no clients of the nodes (the MQTT broker): no role");
ABSL_FLAG(uint64_t, days, 365, "certs: validity in days from now");

namespace provledger::tools {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The CA of `dir`: read when ca.pem and ca.key are there, else made and written.
StatusOr<CertAndKey> LoadOrMakeCa(const std::string& dir, uint32_t days, bool* made) {
  const std::string cert = dir + "/ca.pem", key = dir + "/ca.key";
  *made = !Exists(cert);
  if (!*made) {
    CertAndKey ca;
    PL_ASSIGN_OR_RETURN(ca.cert_pem, ReadFile(cert));
    PL_ASSIGN_OR_RETURN(ca.key_pem, ReadPrivateFile(key, "CA key file"));
    return ca;
  }
  PL_ASSIGN_OR_RETURN(CertAndKey ca, MakeCa("provledger test CA", days));
  PL_RETURN_IF_ERROR(WriteFileAtomically(key, ca.key_pem, 0600, false));
  PL_RETURN_IF_ERROR(WriteFileAtomically(cert, ca.cert_pem, 0644, false));
  return ca;
}

Status CmdCerts(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string dir, Require(FLAGS_dir));
  const uint64_t days64 = absl::GetFlag(FLAGS_days);
  if (days64 == 0 || days64 > 36500) return InvalidArgumentError("--days must be 1..36500");
  const uint32_t days = static_cast<uint32_t>(days64);
  std::vector<CertRequest> requests;
  auto add = [&](Role role, const std::string& name, std::vector<std::string> devices,
                 bool no_role = false) {
    CertRequest r;
    r.no_role = no_role;
    r.identity.role = role;
    r.identity.id = name;
    r.identity.devices = std::move(devices);
    r.hosts = absl::GetFlag(FLAGS_hosts);
    r.days = days;
    requests.push_back(std::move(r));
  };
  for (const auto& n : absl::GetFlag(FLAGS_peers)) add(Role::kPeer, n, {});
  for (const auto& n : absl::GetFlag(FLAGS_gateways)) add(Role::kGateway, n, {});
  for (const auto& n : absl::GetFlag(FLAGS_admins)) add(Role::kAdmin, n, {});
  for (const auto& n : absl::GetFlag(FLAGS_servers)) add(Role::kReader, n, {}, true);
  for (const auto& spec : absl::GetFlag(FLAGS_readers)) {
    const size_t colon = spec.find(':');
    std::vector<std::string> devices;
    if (colon != std::string::npos) {
      std::string rest = spec.substr(colon + 1);
      size_t start = 0;
      while (start <= rest.size()) {
        const size_t plus = rest.find('+', start);
        devices.push_back(
            rest.substr(start, plus == std::string::npos ? std::string::npos : plus - start));
        if (plus == std::string::npos) break;
        start = plus + 1;
      }
    }
    add(Role::kReader, spec.substr(0, colon), std::move(devices));
  }
  for (const CertRequest& r : requests) {
    PL_RETURN_IF_ERROR(ParseIdentityUri(IdentityUri(r.identity)).status());
    for (const char* ext : {".pem", ".key"}) {
      if (Exists(dir + "/" + r.identity.id + ext) || r.identity.id == "ca") {
        return AlreadyExistsError(dir + "/" + r.identity.id + ext +
                                  " exists (or is the CA's name): give each holder its own name");
      }
    }
  }
  ::mkdir(dir.c_str(), 0755);
  bool made_ca = false;
  PL_ASSIGN_OR_RETURN(CertAndKey ca, LoadOrMakeCa(dir, days, &made_ca));
  JsonValue files = JsonValue::Array();
  if (!c.json) {
    std::printf("%s %s/ca.pem (key %s/ca.key, mode 0600)\n", made_ca ? "made CA" : "using CA",
                dir.c_str(), dir.c_str());
  }
  for (const CertRequest& r : requests) {
    PL_ASSIGN_OR_RETURN(CertAndKey issued, IssueCert(ca, r));
    const std::string base = dir + "/" + r.identity.id;
    PL_RETURN_IF_ERROR(WriteFileAtomically(base + ".key", issued.key_pem, 0600, false));
    PL_RETURN_IF_ERROR(WriteFileAtomically(base + ".pem", issued.cert_pem, 0644, false));
    const std::string uri = r.no_role ? "server, no role" : IdentityUri(r.identity);
    if (c.json) {
      JsonValue o = JsonValue::Object();
      o.Set("cert", JsonValue::String(base + ".pem"));
      o.Set("key", JsonValue::String(base + ".key"));
      o.Set("identity", JsonValue::String(uri));
      files.Push(std::move(o));
    } else {
      std::printf("wrote %s.pem, %s.key: %s\n", base.c_str(), base.c_str(), uri.c_str());
    }
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("ca", JsonValue::String(dir + "/ca.pem"));
    o.Set("made_ca", JsonValue::Bool(made_ca));
    o.Set("certs", std::move(files));
    PrintJson(o);
  }
  return OkStatus();
}

}  // namespace

CommandGroup CertsCommands() {
  return {"TLS certificates",
          {{"certs",
            "--dir=DIR [--peers=ID,...] [--gateways=ID,...] [--readers=NAME[:DEV+DEV],...] "
            "[--admins=NAME,...] [--servers=NAME,...] [--hosts=H,...] [--days=N]",
            "a test CA (DIR/ca.pem, made once, then reused) and certificates signed by it, "
            "ECDSA P-256,\nthe role in a subjectAltName URI (docs/SECURITY.md); keys mode 0600",
            {"dir", "hosts", "peers", "gateways", "admins", "readers", "servers", "days"},
            [](const Ctx& c) { return Done(CmdCerts(c)); }}}};
}

}  // namespace provledger::tools
