// corrupt_block: test tool that flips one byte in the middle of a stored block's body, on a
// stopped node's store, the way a bad disk sector would (tests/integration/node_faults_test).
//
//   corrupt_block --data_dir=DIR --chain_id=ID --height=H
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "ledger/store/block_store.h"
#include "ledger/store/block_store_testing.h"

ABSL_FLAG(std::string, data_dir, "", "the stopped node's data DIR (required)");
ABSL_FLAG(std::string, chain_id, "", "the chain id (required)");
ABSL_FLAG(uint64_t, height, 0, "the block to damage (required)");

namespace provledger {
namespace {

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  PL_ASSIGN_OR_RETURN(std::string dir, Require(FLAGS_data_dir));
  PL_ASSIGN_OR_RETURN(std::string chain_id, Require(FLAGS_chain_id));
  const uint64_t height = absl::GetFlag(FLAGS_height);
  if (height == 0) return InvalidArgumentError("--height is required");
  ledger::StoreOptions o;
  o.path = dir + "/chain";
  PL_ASSIGN_OR_RETURN(auto store, ledger::BlockStore::Open(o, chain_id));
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
