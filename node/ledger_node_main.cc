// ledger_node: a provledger validator node. Serves the client gRPC service and commits
// gateway-signed batches into blocks (single validator, N = 1, until PBFT lands).
//
//   ledger_node --genesis=genesis.json --node_id=v0 --key=v0.key --data_dir=DIR
//               [--listen=127.0.0.1:7000] [--max_block_records=1000] [--block_timeout_ms=10]
//               [--config=node.json] [--log_level=info]
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "client/channel_options.h"
#include "common/flags.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/process.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "node/ledger_service.h"
#include "node/pbft_orderer.h"
#include "node/registry_holder.h"
#include "node/solo_orderer.h"

namespace provledger::node {
namespace {

const char kUsage[] =
    "usage: ledger_node --genesis=FILE --node_id=ID --key=FILE --data_dir=DIR\n"
    "                   [--listen=HOST:PORT] [--max_block_records=N] [--block_timeout_ms=MS]\n"
    "                   [--max_queued_batches=N] [--config=FILE.json] "
    "[--log_level=debug|info|warn]\n"
    "                   [--consensus=pbft|solo] [--max_block_batches=N] "
    "[--view_change_timeout_ms=MS]\n"
    "                   [--checkpoint_interval=K] [--window=N]\n";

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(
      Flags flags,
      Flags::Parse(argc, argv, 1,
                   {"genesis", "node_id", "key", "data_dir", "listen", "max_block_records",
                    "block_timeout_ms", "max_queued_batches", "log_level", "help",
                    // The PBFT flags read below; unlisted, the parser refused them.
                    "consensus", "max_block_batches", "view_change_timeout_ms",
                    "checkpoint_interval", "window", "persist_votes"},
                   {"help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return OkStatus();
  }
  PL_RETURN_IF_ERROR(SetLogLevelByName(flags.Get("log_level", "info")));
  PL_ASSIGN_OR_RETURN(std::string genesis_path, flags.Require("genesis"));
  PL_ASSIGN_OR_RETURN(std::string node_id, flags.Require("node_id"));
  PL_ASSIGN_OR_RETURN(std::string key_path, flags.Require("key"));
  PL_ASSIGN_OR_RETURN(std::string data_dir, flags.Require("data_dir"));
  SetLogContext("node", node_id);

  PL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::LoadGenesis(genesis_path));
  auto self = genesis.IndexOf(node_id);
  if (!self)
    return InvalidArgumentError("node id '" + node_id + "' is not a validator in " + genesis_path);
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(key_path));
  if (key.PublicKey() != genesis.validators[*self].pubkey) {
    return PermissionDeniedError("key " + key_path + " is not validator " + node_id +
                                 "'s key in the genesis file");
  }
  OrdererOptions oopts;
  PL_ASSIGN_OR_RETURN(oopts.max_block_records, flags.GetUint("max_block_records", 1000));
  PL_ASSIGN_OR_RETURN(uint64_t timeout, flags.GetUint("block_timeout_ms", 10));
  oopts.block_timeout_ms = static_cast<uint32_t>(timeout);
  PL_ASSIGN_OR_RETURN(oopts.max_queued_batches, flags.GetUint("max_queued_batches", 4096));
  if (oopts.max_block_records == 0)
    return InvalidArgumentError("--max_block_records must be above 0");

  ::mkdir(data_dir.c_str(), 0700);
  ledger::StoreOptions sopts;
  sopts.path = data_dir + "/chain";
  PL_ASSIGN_OR_RETURN(auto store, ledger::BlockStore::Open(sopts, genesis.chain_id));
  auto stored_genesis = store->GetMeta("genesis_hash");
  if (stored_genesis.ok() && *stored_genesis != genesis.file_hash) {
    return FailedPreconditionError("data dir " + data_dir + " was made with another genesis file");
  }
  if (!stored_genesis.ok()) PL_RETURN_IF_ERROR(store->PutMeta("genesis_hash", genesis.file_hash));
  PL_ASSIGN_OR_RETURN(auto snapshot, ledger::RegistrySnapshot::Load(*store));
  RegistryHolder registry(snapshot);

  const std::string listen = flags.Get("listen", genesis.validators[*self].address);
  // PBFT for every chain; "solo" (no network, N = 1 only) stays for comparison benchmarks.
  const std::string mode = flags.Get("consensus", "pbft");
  std::unique_ptr<Orderer> orderer;
  std::unique_ptr<ConsensusService> consensus_service;
  if (mode == "solo") {
    if (genesis.n() != 1)
      return InvalidArgumentError("--consensus=solo needs a 1-validator genesis");
    orderer = std::make_unique<SoloOrderer>(store.get(), genesis, key, *self, &registry, oopts);
  } else if (mode == "pbft") {
    PbftOptions popts;
    popts.block_timeout_ms = oopts.block_timeout_ms;
    PL_ASSIGN_OR_RETURN(popts.max_block_batches,
                        flags.GetUint("max_block_batches", popts.max_block_batches));
    PL_ASSIGN_OR_RETURN(uint64_t vct,
                        flags.GetUint("view_change_timeout_ms", popts.view_change_timeout_ms));
    popts.view_change_timeout_ms = static_cast<uint32_t>(vct);
    PL_ASSIGN_OR_RETURN(popts.checkpoint_interval,
                        flags.GetUint("checkpoint_interval", popts.checkpoint_interval));
    PL_ASSIGN_OR_RETURN(popts.window, flags.GetUint("window", popts.window));
    popts.persist_votes = !flags.Has("persist_votes") || flags.GetBool("persist_votes");
    auto pbft = std::make_unique<PbftOrderer>(store.get(), &genesis, key, *self, &registry, popts);
    consensus_service = std::make_unique<ConsensusService>(pbft.get());
    orderer = std::move(pbft);
  } else {
    return InvalidArgumentError("--consensus must be pbft or solo");
  }
  LedgerService service(&genesis, node_id, store.get(), &registry, orderer.get(), BatchLimits());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  if (consensus_service) builder.RegisterService(consensus_service.get());
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  builder.SetMaxSendMessageSize(64 * 1024 * 1024);
  client::ApplyServerKeepalive(&builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return UnavailableError("cannot listen on " + listen);

  LogInfo("node_ready")
      .Kv("listen", listen)
      .Kv("chain", genesis.chain_id)
      .Kv("height", store->height())
      .Kv("head", ShortHex(store->head_hash()))
      .Kv("validators", genesis.n())
      .Kv("consensus", mode);
  uint64_t last_height = store->height();
  auto last_report = std::chrono::steady_clock::now();
  RunUntilStopSignal([&] {
    if (std::chrono::steady_clock::now() - last_report < std::chrono::seconds(10)) return;
    const uint64_t h = store->height();
    if (h != last_height) {
      LogInfo("progress")
          .Kv("height", h)
          .Kv("records", store->record_count())
          .Kv("blocks_10s", h - last_height)
          .Kv("pending", orderer->pending())
          .Kv("view", orderer->view());
    }
    last_height = h;
    last_report = std::chrono::steady_clock::now();
  });
  LogInfo("node_stopping").Kv("height", store->height());
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  orderer.reset();  // before the store it writes
  return OkStatus();
}

}  // namespace
}  // namespace provledger::node

int main(int argc, char** argv) {
  provledger::Status s = provledger::node::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "ledger_node: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
