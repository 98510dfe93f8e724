// The broker security flags of every MQTT client binary (bridge, agent, device_sim), defined
// here once (docs/SECURITY.md):
//   --broker_ca=FILE             the CA of the broker's certificate (ssl:// URIs)
//   --broker_cert=FILE           our client certificate (optional)
//   --broker_key=FILE            its private key (mode 0600)
//   --broker_user=NAME           MQTT username (a device's is its id under the test ACL)
//   --broker_password_file=FILE  its password, one line, mode 0600
//
// Thread rules: call from main after the flags are applied.
#ifndef PROVLEDGER_COMMON_MQTT_FLAGS_H_
#define PROVLEDGER_COMMON_MQTT_FLAGS_H_

#include <string>
#include <vector>

#include "common/mqtt_client.h"
#include "common/status.h"

namespace provledger {

// The flag names above, in the order a binary's --help lists them.
const std::vector<std::string>& BrokerFlagNames();

// MqttSecurity from the flags: the password read from its file (kPermissionDenied if group or
// others may read it; its trailing newline dropped), the client key's mode checked the same
// way; kInvalidArgument for a certificate without a key (or the reverse), or a password file
// without a user.
StatusOr<MqttSecurity> BrokerSecurityFromFlags();

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_MQTT_FLAGS_H_
