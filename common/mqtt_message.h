// MqttMessage: one MQTT message as our MQTT clients hand it over (common/mqtt_client on
// libmosquitto, common/mqtt_consumer), and its user properties.
//
// Thread rules: a value.
#ifndef PROVLEDGER_COMMON_MQTT_MESSAGE_H_
#define PROVLEDGER_COMMON_MQTT_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

namespace provledger {

using UserProperties = std::vector<std::pair<std::string, std::string>>;

struct MqttMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
  // DUP: the broker sent this PUBLISH before (it was not acknowledged, e.g. the bridge was
  // killed after taking it in and before its PUBACK left). MqttConsumer reads it from the
  // packet; MqttClient reads false always when the libmosquitto loaded is not 2.0
  // (MosquittoDupLayoutKnown).
  bool duplicate = false;
  UserProperties user_properties;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_MQTT_MESSAGE_H_
