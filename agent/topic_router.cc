#include "agent/topic_router.h"

#include <utility>

namespace provledger::agent {

void TopicRouter::Add(const std::string& topic, Handler handler) {
  handlers_[topic] = std::move(handler);
}

std::vector<std::string> TopicRouter::Topics() const {
  std::vector<std::string> out;
  for (const auto& [topic, handler] : handlers_) out.push_back(topic);
  return out;
}

bool TopicRouter::Dispatch(const MqttMessage& m) const {
  auto it = handlers_.find(m.topic);
  if (it == handlers_.end()) return false;
  it->second(m);
  return true;
}

}  // namespace provledger::agent
