// FirmwarePublisher: puts the newest recorded firmware manifest of each vendor and model
// (PROTOCOL.md section 8; the highest counter the node's Firmware query lists) on
// devices/{device}/update/code, retained, QoS 1, for every registered, unrevoked device of
// that vendor and model, devices registered later included. It polls the node (the
// manifests and the device listing) every refresh interval and publishes only what changed
// since its last publish to a device: a new manifest, or a device it has not served yet.
// Nothing is kept on disk: after a restart it publishes each device's manifest once more,
// which is harmless (a retained publish replaces the same bytes; devices ignore a manifest
// they handled). Several bridges of one gateway group publish the same bytes.
//
// PlanFirmwarePublishes is the pure part: what to publish, given the listings.
//
// Thread rules: Refresh() from one thread at a time (the refresher Worker once Start()ed);
// `publish` is called on that thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_FIRMWARE_PUBLISHER_H_
#define PROVLEDGER_MQTT_BRIDGE_FIRMWARE_PUBLISHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/ledger_client.h"
#include "common/bytes.h"
#include "common/status.h"
#include "common/worker.h"
#include "proto/ledger.pb.h"

namespace provledger::bridge {

struct FirmwarePublish {
  std::string device;
  std::string topic;    // {prefix}/{device}/update/code
  std::string payload;  // the manifest JSON (device_protocol::FirmwareManifestJson)
  Bytes record_id;      // of the manifest's kind 3 record
};

// What to publish: for each unrevoked device of `devices` whose vendor and model have a
// manifest in `manifests` (the highest counter wins; records that do not decode as kind 3
// are skipped), unless `published` already maps the device to that manifest's record id.
std::vector<FirmwarePublish> PlanFirmwarePublishes(const std::string& topic_prefix,
                                                   const provledger::v1::FirmwareListing& manifests,
                                                   const provledger::v1::RegistryListing& devices,
                                                   const std::map<std::string, Bytes>& published);

class FirmwarePublisher {
 public:
  // Publishes retained at QoS 1; false when the message could not be queued (tried again
  // at the next refresh).
  using PublishFn = std::function<bool(const std::string& topic, const std::string& payload)>;

  // `client` must outlive the publisher.
  FirmwarePublisher(client::LedgerClient* client, std::string topic_prefix, uint32_t refresh_ms,
                    PublishFn publish);
  ~FirmwarePublisher();

  // One poll: reads the manifests and devices and publishes what changed. kUnavailable (or
  // the node's error) when a listing cannot be read; nothing is published then.
  Status Refresh();
  // Starts the background refresher (a first Refresh at once, then every refresh_ms).
  void Start();

  uint64_t published() const { return published_count_; }

 private:
  client::LedgerClient* client_;
  std::string topic_prefix_;
  uint32_t refresh_ms_;
  PublishFn publish_;
  std::map<std::string, Bytes> published_;  // device -> manifest record id (refresher only)
  uint64_t published_count_ = 0;            // refresher only
  std::unique_ptr<Worker> refresher_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_FIRMWARE_PUBLISHER_H_
