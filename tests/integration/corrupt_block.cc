// corrupt_block: test tool that flips one byte in the middle of a stored block's body, on a
// stopped node's store, the way a bad disk sector would (tests/integration/node_faults_test).
//
//   corrupt_block --data_dir=DIR --chain_id=ID --height=H
//   corrupt_block --data_dir=DIR --chain_id=ID --drop_seq=DEVICE:SEQ   (drops one index entry:
//     the store's checkpoint state then differs from the other nodes', catchup_test)
//   corrupt_block --data_dir=DIR --chain_id=ID --format_version=N   (writes that store format
//     version, as a newer build would, node_faults_test format)
//   corrupt_block --data_dir=DIR --chain_id=ID --as_format1   (rewrites the store as format 1
//     wrote it, node_faults_test format)
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "ledger/store/block_store.h"
#include "ledger/store/block_store_testing.h"

ABSL_FLAG(std::string, data_dir, "", "the stopped node's data DIR (required)");
ABSL_FLAG(std::string, chain_id, "", "the chain id (required)");
ABSL_FLAG(uint64_t, height, 0, "the block to damage");
ABSL_FLAG(std::string, drop_seq, "", "DEVICE:SEQ: drop that (device, seq) index entry instead");
ABSL_FLAG(uint32_t, format_version, 0, "N: write store format version N instead");
ABSL_FLAG(bool, as_format1, false, "rewrite the store as format 1 wrote it instead");

namespace provledger {
namespace {

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  PL_ASSIGN_OR_RETURN(std::string dir, Require(FLAGS_data_dir));
  PL_ASSIGN_OR_RETURN(std::string chain_id, Require(FLAGS_chain_id));
  const uint64_t height = absl::GetFlag(FLAGS_height);
  const std::string drop = absl::GetFlag(FLAGS_drop_seq);
  const uint32_t format = absl::GetFlag(FLAGS_format_version);
  const bool as_format1 = absl::GetFlag(FLAGS_as_format1);
  if (height == 0 && drop.empty() && format == 0 && !as_format1)
    return InvalidArgumentError(
        "--height, --drop_seq, --format_version or --as_format1 is required");
  ledger::StoreOptions o;
  o.path = dir + "/chain";
  PL_ASSIGN_OR_RETURN(auto store, ledger::BlockStore::Open(o, chain_id));
  if (format != 0) {
    Bytes v;
    AppendU32(&v, format);
    PL_RETURN_IF_ERROR(store->PutMeta("format_version", v));
    std::printf("wrote store format version %u\n", format);
    return OkStatus();
  }
  if (as_format1) {
    PL_RETURN_IF_ERROR(ledger::BlockStoreTesting::RewriteAsFormat1(*store));
    std::printf("rewrote the store as format 1\n");
    return OkStatus();
  }
  if (!drop.empty()) {
    const size_t colon = drop.rfind(':');
    if (colon == std::string::npos) return InvalidArgumentError("--drop_seq is DEVICE:SEQ");
    const uint64_t seq = std::stoull(drop.substr(colon + 1));
    PL_RETURN_IF_ERROR(ledger::BlockStoreTesting::DropSeqIndex(*store, drop.substr(0, colon), seq));
    std::printf("dropped the index entry of %s\n", drop.c_str());
    return OkStatus();
  }
  PL_ASSIGN_OR_RETURN(ledger::StoredBlock b, store->ReadBlock(height, false));
  Bytes body = ledger::EncodeBody(b.records);
  body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x01);
  PL_RETURN_IF_ERROR(ledger::BlockStoreTesting::CorruptBody(*store, height, body));
  std::printf("flipped byte %zu of %zu in block %llu's body\n", body.size() / 2, body.size(),
              static_cast<unsigned long long>(height));
  return OkStatus();
}

}  // namespace
}  // namespace provledger

int main(int argc, char** argv) {
  provledger::Status s = provledger::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "corrupt_block: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
