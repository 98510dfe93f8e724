#include "common/mqtt_flags.h"

#include "absl/flags/flag.h"
#include "common/key_file.h"

ABSL_FLAG(std::string, broker_ca, "",
          "the CA certificate FILE (PEM) the ssl:// broker's certificate must be signed by");
ABSL_FLAG(std::string, broker_cert, "", "a client certificate FILE (PEM) shown to the broker");
ABSL_FLAG(std::string, broker_key, "", "the client certificate's private key FILE (mode 0600)");
ABSL_FLAG(std::string, broker_user, "", "MQTT username");
ABSL_FLAG(std::string, broker_password_file, "",
          "FILE holding the MQTT password (one line, mode 0600); needs --broker_user");

namespace provledger {

const std::vector<std::string>& BrokerFlagNames() {
  static const std::vector<std::string> names = {"broker_ca", "broker_cert", "broker_key",
                                                 "broker_user", "broker_password_file"};
  return names;
}

StatusOr<MqttSecurity> BrokerSecurityFromFlags() {
  MqttSecurity s;
  s.ca_file = absl::GetFlag(FLAGS_broker_ca);
  s.cert_file = absl::GetFlag(FLAGS_broker_cert);
  s.key_file = absl::GetFlag(FLAGS_broker_key);
  s.username = absl::GetFlag(FLAGS_broker_user);
  if (s.cert_file.empty() != s.key_file.empty()) {
    return InvalidArgumentError("--broker_cert and --broker_key go together");
  }
  if (!s.key_file.empty()) {
    // libmosquitto reads the key itself; its mode is checked here as every key's is.
    PL_ASSIGN_OR_RETURN(Bytes key, ReadPrivateFile(s.key_file, "broker key file"));
    Wipe(&key);
  }
  const std::string pw = absl::GetFlag(FLAGS_broker_password_file);
  if (!pw.empty()) {
    if (s.username.empty())
      return InvalidArgumentError("--broker_password_file needs --broker_user");
    PL_ASSIGN_OR_RETURN(s.password, ReadPrivateFile(pw, "broker password file"));
    while (!s.password.empty() && (s.password.back() == '\n' || s.password.back() == '\r')) {
      s.password.pop_back();
    }
  }
  return s;
}

}  // namespace provledger
