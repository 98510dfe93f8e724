// The index of firmware manifests (record kind 3) a node keeps, for the Firmware query:
// rows in the store's registry column family, written with each block in its one synced
// batch (BlockToAppend::registry_puts), beside the registry's own rows (whose prefixes
// RegistrySnapshot::FromRows knows; it ignores these).
//
//   key   = "fw/" || vendor || "/" || model || "/" || u64be(counter) || record id (32)
//   value = u64be(height) || the kind 3 record bytes
//
// Names never hold '/', so a vendor's or a vendor and model's rows are one key prefix.
// Thread rules: pure functions.
#ifndef PROVLEDGER_NODE_FIRMWARE_INDEX_H_
#define PROVLEDGER_NODE_FIRMWARE_INDEX_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::node {

struct FirmwareRow {
  std::string vendor, model;
  uint64_t counter = 0;
  Bytes record_id;
  uint64_t height = 0;
  Bytes record;
};

// Appends to *puts the rows of the kind 3 records among `records` (a block's, at `height`);
// records of other kinds, or that do not decode, are skipped.
void AddFirmwareRows(const std::vector<Bytes>& records, uint64_t height,
                     std::vector<std::pair<Bytes, Bytes>>* puts);

// The key prefix of every row ("fw/"), of a vendor's rows (model empty), or of a vendor and
// model's rows. `vendor` empty means every row, whatever `model`.
Bytes FirmwareRowPrefix(const std::string& vendor, const std::string& model);

// A row read back. kDataLoss naming the key when it is not AddFirmwareRows output.
StatusOr<FirmwareRow> ParseFirmwareRow(ByteView key, ByteView value);

// `rows` ordered by vendor, model, then counter highest first (then height, highest first);
// with `latest_only`, only the first of each vendor and model is kept.
std::vector<FirmwareRow> OrderFirmwareRows(std::vector<FirmwareRow> rows, bool latest_only);

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_FIRMWARE_INDEX_H_
