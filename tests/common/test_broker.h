// A real Mosquitto (/usr/sbin/mosquitto) on a free loopback port, for tests of MQTT code, and
// what those tests set up around one: client options, TLS certificates for the broker.
#ifndef PROVLEDGER_TESTS_COMMON_TEST_BROKER_H_
#define PROVLEDGER_TESTS_COMMON_TEST_BROKER_H_

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "common/tls_certs.h"

namespace provledger {

// A directory of this test process (under TEST_TMPDIR).
inline std::string TempDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(t ? t : "/tmp") + "/mqtt_client_test." + std::to_string(getpid());
  std::system(("mkdir -p " + dir).c_str());
  return dir;
}

inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool PortOpen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// One Mosquitto process; `extra` lines go into its listener's configuration.
class Broker {
 public:
  explicit Broker(const std::string& name, std::vector<std::string> extra = {})
      : dir_(TempDir()), port_(FreePort()) {
    conf_ = dir_ + "/" + name + ".conf";
    std::ofstream f(conf_);
    f << "listener " << port_ << " 127.0.0.1\npersistence false\n";
    bool anonymous_set = false;
    for (const auto& l : extra) {
      f << l << "\n";
      anonymous_set = anonymous_set || l.rfind("allow_anonymous", 0) == 0;
    }
    if (!anonymous_set) f << "allow_anonymous true\n";
    if (geteuid() == 0) f << "user root\n";
    f << "log_dest file " << dir_ << "/" << name << ".log\nlog_type all\n";
    f.close();
    Start();
  }
  ~Broker() { Stop(); }
  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 300 && !PortOpen(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(PortOpen(port_)) << "mosquitto did not start: " << conf_;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string uri(const std::string& scheme = "tcp") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int port_;
  std::string conf_;
  pid_t pid_ = -1;
};

// Options for a client of a test broker at `uri`: a persistent session when `client_id` is
// given, a clean one otherwise; 20 s to connect (a loaded test machine).
inline MqttOptions TestMqttOptions(const std::string& uri, const std::string& client_id = "") {
  MqttOptions o;
  o.uri = uri;
  o.client_id = client_id;
  o.persistent_session = !client_id.empty();
  o.connect_timeout_ms = 20000;
  return o;
}

// A broker certificate to make: `name`.pem and `name`.key, for `hosts` (IP addresses or DNS
// names, its subjectAltNames).
struct TestServerCert {
  std::string name;
  std::vector<std::string> hosts;
};

// Writes under `dir` (made if missing) a test CA, ca.pem, a second CA that signed nothing,
// other.pem, and each of `servers` signed by the first (common/tls_certs.h, as `ledgerctl
// certs` makes them). Fails the test and returns false when one cannot be made or written.
inline bool MakeTestTls(const std::string& dir, const std::vector<TestServerCert>& servers) {
  std::system(("mkdir -p " + dir).c_str());
  auto write = [&](const std::string& file, const std::string& pem) {
    std::ofstream f(dir + "/" + file);
    f << pem;
    f.close();
    if (!f) ADD_FAILURE() << "cannot write " << dir << "/" << file;
    return static_cast<bool>(f);
  };
  StatusOr<CertAndKey> ca = MakeCa("test-ca", 2);
  StatusOr<CertAndKey> other = MakeCa("other-ca", 2);
  if (!ca.ok() || !other.ok()) {
    ADD_FAILURE() << "test CA: " << (ca.ok() ? other.status() : ca.status()).ToString();
    return false;
  }
  if (!write("ca.pem", ca->cert_pem) || !write("other.pem", other->cert_pem)) return false;
  for (const TestServerCert& s : servers) {
    CertRequest req;
    req.identity.id = s.name;
    req.no_role = true;
    req.hosts = s.hosts;
    req.days = 2;
    StatusOr<CertAndKey> cert = IssueCert(*ca, req);
    if (!cert.ok()) {
      ADD_FAILURE() << "certificate " << s.name << ": " << cert.status().ToString();
      return false;
    }
    if (!write(s.name + ".pem", cert->cert_pem) || !write(s.name + ".key", cert->key_pem)) {
      return false;
    }
  }
  return true;
}

// A Broker's configuration lines for a TLS listener serving `dir`/`name`.pem (MakeTestTls).
inline std::vector<std::string> TlsListener(const std::string& dir, const std::string& name) {
  return {"cafile " + dir + "/ca.pem", "certfile " + dir + "/" + name + ".pem",
          "keyfile " + dir + "/" + name + ".key"};
}

}  // namespace provledger

#endif  // PROVLEDGER_TESTS_COMMON_TEST_BROKER_H_
