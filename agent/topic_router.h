// TopicRouter: the one place where messages from the broker arrive, by exact topic. The
// agent registers a handler per answer topic it subscribes to (key, integrity answers; a
// firmware updater adds update/code here), and the MQTT callback calls Dispatch.
//
// Thread rules: Add before the client connects (not thread-safe); Dispatch from the MQTT
// callback thread afterwards (read-only). Handlers must return quickly (mqtt_client.h).
#ifndef PROVLEDGER_AGENT_TOPIC_ROUTER_H_
#define PROVLEDGER_AGENT_TOPIC_ROUTER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/mqtt_client.h"

namespace provledger::agent {

class TopicRouter {
 public:
  using Handler = std::function<void(const MqttMessage&)>;
  // Routes messages on exactly `topic` to `handler` (replacing an earlier one).
  void Add(const std::string& topic, Handler handler);
  // The topics to subscribe to, sorted.
  std::vector<std::string> Topics() const;
  // Calls the handler of m.topic; false (and nothing called) for any other topic.
  bool Dispatch(const MqttMessage& m) const;

 private:
  std::map<std::string, Handler> handlers_;
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_TOPIC_ROUTER_H_
