#include "mqtt-bridge/firmware_publisher.h"

#include <utility>

#include "common/log.h"
#include "common/refresher.h"
#include "device_protocol/firmware_manifest.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"

namespace provledger::bridge {

namespace v1 = provledger::v1;

std::vector<FirmwarePublish> PlanFirmwarePublishes(const std::string& topic_prefix,
                                                   const v1::FirmwareListing& manifests,
                                                   const v1::RegistryListing& devices,
                                                   const std::map<std::string, Bytes>& published) {
  struct Newest {
    uint64_t counter = 0;
    Bytes record_id;
    std::string payload;
  };
  std::map<std::pair<std::string, std::string>, Newest> newest;  // (vendor, model) ->
  for (const v1::FirmwareEntry& e : manifests.manifests()) {
    auto rec = ledger::DecodeRecord(e.record());
    if (!rec.ok() || rec->kind != ledger::RecordKind::kFirmware) continue;
    const ledger::FirmwareRecord& f = rec->firmware;
    auto [it, fresh] = newest.try_emplace({f.vendor, f.model});
    if (!fresh && it->second.counter >= f.counter) continue;
    it->second.counter = f.counter;
    it->second.record_id = ledger::RecordId(e.record());
    it->second.payload =
        device_protocol::FirmwareManifestJson(device_protocol::FromFirmwareRecord(f));
  }
  std::vector<FirmwarePublish> out;
  for (const v1::DeviceInfo& d : devices.devices()) {
    if (d.revoked() || d.vendor().empty() || d.model().empty()) continue;
    auto it = newest.find({d.vendor(), d.model()});
    if (it == newest.end()) continue;
    auto done = published.find(d.id());
    if (done != published.end() && done->second == it->second.record_id) continue;
    out.push_back(FirmwarePublish{d.id(), device_protocol::UpdateCodeTopic(topic_prefix, d.id()),
                                  it->second.payload, it->second.record_id});
  }
  return out;
}

FirmwarePublisher::FirmwarePublisher(client::LedgerClient* client, std::string topic_prefix,
                                     uint32_t refresh_ms, PublishFn publish)
    : client_(client),
      topic_prefix_(std::move(topic_prefix)),
      refresh_ms_(refresh_ms),
      publish_(std::move(publish)) {}

FirmwarePublisher::~FirmwarePublisher() { refresher_.reset(); }

Status FirmwarePublisher::Refresh() {
  v1::FirmwareQuery q;
  q.set_latest_only(true);
  PL_ASSIGN_OR_RETURN(v1::FirmwareListing manifests, client_->Firmware(q));
  if (manifests.manifests_size() == 0) return OkStatus();  // nothing to publish: skip devices
  PL_ASSIGN_OR_RETURN(v1::RegistryListing devices, client_->Devices(""));
  // One log line per refresh that published, not one per device (fleets are large).
  uint64_t sent = 0, not_queued = 0;
  for (FirmwarePublish& p : PlanFirmwarePublishes(topic_prefix_, manifests, devices, published_)) {
    if (!publish_(p.topic, p.payload)) {  // queue full: the next refresh tries again
      ++not_queued;
      continue;
    }
    published_[p.device] = std::move(p.record_id);
    ++sent;
  }
  published_count_ += sent;
  if (sent > 0 || not_queued > 0) {
    LogInfo("firmware_published")
        .Kv("devices", sent)
        .Kv("not_queued", not_queued)
        .Kv("manifests", manifests.manifests_size());
  }
  return OkStatus();
}

void FirmwarePublisher::Start() {
  refresher_ = ::provledger::StartRefresher("firmware", refresh_ms_, /*at_once=*/true,
                                            [this] { return Refresh(); });
}

}  // namespace provledger::bridge
