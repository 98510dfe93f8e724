#include "mqtt-bridge/firmware_publisher.h"

#include <string>

#include "common/sha256.h"
#include "device_protocol/firmware_manifest.h"
#include "gtest/gtest.h"
#include "ledger/record.h"

namespace provledger::bridge {
namespace {

namespace v1 = provledger::v1;
namespace dp = device_protocol;

Bytes Record(const std::string& vendor, const std::string& model, uint64_t counter) {
  dp::FirmwareManifest m;
  m.vendor = vendor;
  m.model = model;
  m.version = "1." + std::to_string(counter) + ".0";
  m.counter = counter;
  m.size = 5;
  m.sha256 = Sha256("image");
  m.location = "file:///fw/" + model + ".bin";
  m.sig = Bytes(64, '\x01');
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kFirmware;
  rec.firmware = dp::ToFirmwareRecord(m);
  return ledger::EncodeRecord(rec);
}

void AddManifest(v1::FirmwareListing* l, const Bytes& record) {
  v1::FirmwareEntry* e = l->add_manifests();
  e->set_record(record);
  e->set_record_id(ledger::RecordId(record));
}

void AddDevice(v1::RegistryListing* l, const std::string& id, const std::string& vendor,
               const std::string& model, bool revoked = false) {
  v1::DeviceInfo* d = l->add_devices();
  d->set_id(id);
  d->set_vendor(vendor);
  d->set_model(model);
  d->set_revoked(revoked);
}

TEST(FirmwarePublisher, PublishesTheHighestCounterToEachDeviceOfItsVendorAndModel) {
  v1::FirmwareListing manifests;
  AddManifest(&manifests, Record("acme", "s1", 3));
  AddManifest(&manifests, Record("acme", "s1", 9));
  AddManifest(&manifests, Record("acme", "s2", 1));
  v1::RegistryListing devices;
  AddDevice(&devices, "dev-1", "acme", "s1");
  AddDevice(&devices, "dev-2", "acme", "s2");
  AddDevice(&devices, "dev-3", "globex", "s1");      // another vendor
  AddDevice(&devices, "dev-4", "acme", "s1", true);  // revoked
  AddDevice(&devices, "dev-5", "", "");              // no vendor, no model
  auto plan = PlanFirmwarePublishes("devices", manifests, devices, {});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].device, "dev-1");
  EXPECT_EQ(plan[0].topic, "devices/dev-1/update/code");
  EXPECT_EQ(plan[0].record_id, ledger::RecordId(Record("acme", "s1", 9)));
  auto m = dp::ParseFirmwareManifest(plan[0].payload);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->counter, 9u);
  EXPECT_EQ(plan[1].device, "dev-2");
  EXPECT_EQ(plan[1].topic, "devices/dev-2/update/code");
}

TEST(FirmwarePublisher, DoesNotPublishAgainWhatADeviceWasSent) {
  v1::FirmwareListing manifests;
  AddManifest(&manifests, Record("acme", "s1", 3));
  v1::RegistryListing devices;
  AddDevice(&devices, "dev-1", "acme", "s1");
  std::map<std::string, Bytes> published = {{"dev-1", ledger::RecordId(Record("acme", "s1", 3))}};
  EXPECT_TRUE(PlanFirmwarePublishes("devices", manifests, devices, published).empty());
  // A device registered later gets it; a newer manifest goes to everyone again.
  AddDevice(&devices, "dev-9", "acme", "s1");
  auto plan = PlanFirmwarePublishes("devices", manifests, devices, published);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].device, "dev-9");
  AddManifest(&manifests, Record("acme", "s1", 4));
  EXPECT_EQ(PlanFirmwarePublishes("devices", manifests, devices, published).size(), 2u);
}

TEST(FirmwarePublisher, SkipsRecordsThatAreNoManifest) {
  v1::FirmwareListing manifests;
  AddManifest(&manifests, "not a record");
  v1::RegistryListing devices;
  AddDevice(&devices, "dev-1", "acme", "s1");
  EXPECT_TRUE(PlanFirmwarePublishes("devices", manifests, devices, {}).empty());
}

}  // namespace
}  // namespace provledger::bridge
