// A real Mosquitto (/usr/sbin/mosquitto) on a free loopback port, for tests of MQTT code.
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

}  // namespace provledger

#endif  // PROVLEDGER_TESTS_COMMON_TEST_BROKER_H_
