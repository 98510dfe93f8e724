// ledger_node: a provledger validator node. Serves the client gRPC service and orders
// gateway-signed batches into blocks with PBFT (also for a single validator, N = 1).
// With --mode=light (a follower, or a validator its genesis entry declares light) it prunes
// old block bodies and fetches pruned records from full nodes, checking them against its
// own headers (node/pruner.h, node/remote_record_fetcher.h).
// With --follow it is a follower instead: outside consensus, it pulls committed blocks
// from the genesis validators, checks and stores them, serves every query and forwards
// submissions (node/follower_orderer.h).
//
//   ledger_node --genesis=genesis.json --node_id=v0 --key=v0.key --data_dir=DIR [flags]
//   ledger_node --follow --genesis=genesis.json --node_id=f0 --listen=HOST:PORT --data_dir=DIR
//
// Flags are Abseil flags (defaults on the definitions, --help, --flagfile=FILE); --config=FILE
// (a JSON object of the same names) keeps working, the command line winning over it.
//
// Exit codes (docs/OPERATIONS.md): 0 stopped on SIGTERM/SIGINT; 1 bad flags, files or store
// at start; 2 the listen port (or the --metrics_listen one) is taken or cannot be bound
// (ev=listen_failed); 3 the store holds votes or a state it cannot use; 4 a store write
// failed (ev=store_write_failed; the store is closed cleanly: restart once the disk is fixed
// and the node catches up).
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "client/channel_options.h"
#include "client/transport_security.h"
#include "common/command_line.h"
#include "common/key_file.h"
#include "common/listen_probe.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "common/process.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "ledger/validator_schedule.h"
#include "ledger/validator_set.h"
#include "node/access_policy.h"
#include "node/checkpoint_joiner.h"
#include "node/follower_orderer.h"
#include "node/ledger_service.h"
#include "node/node_metrics.h"
#include "node/pbft_orderer.h"
#include "node/pruner.h"
#include "node/registry_holder.h"
#include "node/remote_record_fetcher.h"
#include "node/role_switcher.h"
#include "node/state_attester.h"
#include "node/state_sync_service.h"

// The orderer's defaults are the flags' defaults: one place for each.
static const provledger::node::PbftOptions kDefaults;

ABSL_FLAG(std::string, genesis, "", "the genesis FILE (required)");
ABSL_FLAG(std::string, node_id, "", "this validator's id in the genesis file (required)");
ABSL_FLAG(std::string, key, "",
          "this node's private key FILE, mode 0600 (required unless --follow; a follower "
          "with a key is promoted once a validator-set change names that key for its id)");
ABSL_FLAG(std::string, next_key, "",
          "a second private key FILE: the node signs with whichever of --key and --next_key "
          "the validator set in force names for its id (key replacement without a restart)");
ABSL_FLAG(std::string, data_dir, "", "DIR of the chain store (required)");
ABSL_FLAG(std::string, listen, "", "HOST:PORT to serve on (default: the genesis address)");
ABSL_FLAG(uint64_t, block_timeout_ms, kDefaults.block_timeout_ms,
          "cut a block this long after its first batch");
ABSL_FLAG(uint64_t, max_block_batches, kDefaults.max_block_batches,
          "... or at this many gateway batches");
ABSL_FLAG(uint64_t, block_cut_in_flight, kDefaults.block_cut_in_flight,
          "primary: while this many of its blocks are in flight (not committed or not yet "
          "durable here), cut the next only at --max_block_batches, so that it fills while "
          "the round runs; 0: cut at --block_timeout_ms regardless");
ABSL_FLAG(uint64_t, view_change_timeout_ms, kDefaults.view_change_timeout_ms,
          "base view-change timeout; doubles per try");
ABSL_FLAG(uint64_t, checkpoint_interval, kDefaults.checkpoint_interval,
          "blocks between PBFT checkpoints");
ABSL_FLAG(uint64_t, window, kDefaults.window, "blocks in flight (PBFT watermark window)");
ABSL_FLAG(uint64_t, apply_queue, kDefaults.apply_queue,
          "committed blocks being written and synced while consensus goes on; 0: each "
          "written before consensus goes on (only to measure the pipeline)");
ABSL_FLAG(bool, persist_votes, kDefaults.persist_votes,
          "write each vote to disk before sending it (never off in production)");
ABSL_FLAG(bool, follow, false,
          "may start as a follower: no consensus, pull committed blocks from the validators, "
          "forward submissions (--key optional; --listen required unless the set in force "
          "names this id). The role follows the validator set in force at every epoch");
ABSL_FLAG(uint64_t, follow_poll_ms, 200, "follower: ask the validators' heads this often");
ABSL_FLAG(std::string, mode, "full",
          "full: keep every block; light: keep headers, certificates, the registry and the "
          "indexes, prune older block bodies (--retain_blocks, --retain_age) and fetch pruned "
          "records from full nodes (--full_nodes). A validator may run light only if its "
          "genesis entry says \"mode\": \"light\"");
ABSL_FLAG(uint64_t, retain_blocks, 0,
          "light: keep the bodies of the last N blocks (0: not set; with --retain_age unset "
          "too, 1000)");
ABSL_FLAG(std::string, retain_age, "",
          "light: keep the bodies of blocks younger than this (30d, 12h, 90m, 45s); with "
          "--retain_blocks too, a body goes once it is outside both windows");
ABSL_FLAG(std::vector<std::string>, full_nodes, {},
          "light: HOST:PORT,... of full nodes to fetch pruned records from, asked first and in "
          "order; then the genesis validators not declared light");
ABSL_FLAG(std::string, catch_up, "auto",
          "how an empty node joins: blocks (replay every block), checkpoint (install the state "
          "a quorum of the validator set in force attests at a recent checkpoint, then go on by "
          "blocks), auto (checkpoint "
          "when the head is --catch_up_min_blocks ahead, else blocks)");
ABSL_FLAG(uint64_t, catch_up_min_blocks, 1000,
          "auto: join from a checkpoint only when the validators' head is this far ahead");
ABSL_FLAG(uint64_t, state_interval, 256,
          "pin (and on validators digest and sign) the checkpoint state every N blocks, for "
          "nodes joining from a checkpoint; 0: never");
ABSL_FLAG(std::string, state_peers, "",
          "HOST:PORT,...: nodes asked first for checkpoint state rows (then the validators)");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on at /metrics (default: none; a port in use "
          "exits 2 like --listen)");
ABSL_FLAG(std::string, config, "", "FILE.json: an object of these flag names; flags win");
ABSL_FLAG(std::string, log_level, "info", "debug|info|warn");

namespace provledger::node {
namespace {

const std::vector<std::string> kFlagOrder = {"genesis",
                                             "node_id",
                                             "key",
                                             "next_key",
                                             "data_dir",
                                             "listen",
                                             "block_timeout_ms",
                                             "max_block_batches",
                                             "block_cut_in_flight",
                                             "view_change_timeout_ms",
                                             "checkpoint_interval",
                                             "window",
                                             "apply_queue",
                                             "persist_votes",
                                             "follow",
                                             "follow_poll_ms",
                                             "mode",
                                             "retain_blocks",
                                             "retain_age",
                                             "full_nodes",
                                             "catch_up",
                                             "catch_up_min_blocks",
                                             "state_interval",
                                             "state_peers",
                                             "metrics_listen",
                                             "tls_ca",
                                             "tls_cert",
                                             "tls_key",
                                             "insecure",
                                             "config",
                                             "log_level"};

constexpr int kExitListenFailed = 2;
constexpr int kExitUnusableState = 3;  // the store holds state this build cannot use
constexpr int kExitStoreWriteFailed = 4;
constexpr uint32_t kRemoteFetchDeadlineMs = 5000;  // each GetProof a light node asks a full node

// The full nodes a light node asks for pruned records: `flagged` first, in order, then the
// members of the validator set in force (`in_force`, may be null) that its genesis entry does
// not declare light (a validator added by a set change counts as full), then the genesis
// validators not declared light (a removed one keeps its blocks as a follower); this node's
// own id left out, each address once.
std::vector<std::string> FullNodeAddresses(const ledger::Genesis& genesis,
                                           const ledger::ValidatorSet* in_force,
                                           const std::string& self_id,
                                           const std::vector<std::string>& flagged) {
  std::vector<std::string> out;
  auto add = [&](const std::string& a) {
    if (!a.empty() && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  for (const auto& a : flagged) add(a);
  if (in_force != nullptr) {
    for (const ledger::Validator& v : in_force->members()) {
      const auto g = genesis.IndexOf(v.id);
      if (v.id == self_id || (g && genesis.validators[*g].light)) continue;
      add(v.address);
    }
  }
  for (const ledger::Validator* v : genesis.FullValidators()) {
    if (v->id != self_id) add(v->address);
  }
  return out;
}

// Runs the node; *exit_code is set where the process must exit with a code of its own.
Status Run(int argc, char** argv, int* exit_code) {
  PL_ASSIGN_OR_RETURN(
      bool run,
      ReadDaemonCommandLine(
          argc, argv,
          "usage: ledger_node --genesis=FILE --node_id=ID --key=FILE --data_dir=DIR [flags]\n",
          kFlagOrder));
  if (!run) return OkStatus();
  PL_RETURN_IF_ERROR(SetLogLevelByName(absl::GetFlag(FLAGS_log_level)));
  PL_ASSIGN_OR_RETURN(std::string genesis_path, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(std::string node_id, Require(FLAGS_node_id));
  const bool follow = absl::GetFlag(FLAGS_follow);
  std::string key_path = absl::GetFlag(FLAGS_key);
  if (!follow) {
    PL_ASSIGN_OR_RETURN(key_path, Require(FLAGS_key));
  }
  PL_ASSIGN_OR_RETURN(std::string data_dir, Require(FLAGS_data_dir));
  SetLogContext("node", node_id);
  // Before any channel opens (the checkpoint joiner's, the orderer's peers).
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("ledger_node"));

  PL_ASSIGN_OR_RETURN(ledger::Genesis genesis, ledger::LoadGenesis(genesis_path));
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "full" && mode != "light") {
    return InvalidArgumentError("--mode must be full or light, not '" + mode + "'");
  }
  const bool light = mode == "light";
  const std::optional<uint32_t> self = genesis.IndexOf(node_id);
  if (light && !follow && !(self && genesis.validators[*self].light)) {
    // At least one node must keep every block: the genesis says which validators may prune.
    return FailedPreconditionError(
        "validator " + node_id + " is declared full in " + genesis_path +
        " (its entry has no \"mode\": \"light\"; validators added by a set change are "
        "full), so it must keep every block: run it "
        "--mode=full, or make a genesis that declares it light (ledgerctl genesis --light=" +
        node_id + ")");
  }
  RetentionOptions retention;
  std::vector<std::string> full_nodes;
  if (light) {
    retention.retain_blocks = absl::GetFlag(FLAGS_retain_blocks);
    if (!absl::GetFlag(FLAGS_retain_age).empty()) {
      PL_ASSIGN_OR_RETURN(retention.retain_age_ms,
                          ParseRetentionAge(absl::GetFlag(FLAGS_retain_age)));
    }
    if (!retention.any()) retention.retain_blocks = 1000;
    // Checked here against the genesis (before any disk is touched), and again once the
    // store tells the set in force.
    full_nodes = FullNodeAddresses(genesis, nullptr, node_id, absl::GetFlag(FLAGS_full_nodes));
    if (full_nodes.empty()) {
      return FailedPreconditionError(
          "--mode=light needs a full node to fetch pruned records from: " + genesis_path +
          " declares no other validator full and --full_nodes is empty");
    }
  } else if (absl::GetFlag(FLAGS_retain_blocks) != 0 || !absl::GetFlag(FLAGS_retain_age).empty() ||
             !absl::GetFlag(FLAGS_full_nodes).empty()) {
    return InvalidArgumentError(
        "--retain_blocks, --retain_age and --full_nodes are for --mode=light");
  }
  // Every key this node holds: it signs with the one the set in force names for its id.
  std::vector<PrivateKey> keys;
  for (const std::string& path : {key_path, absl::GetFlag(FLAGS_next_key)}) {
    if (path.empty()) continue;
    PL_ASSIGN_OR_RETURN(PrivateKey k, ReadKeyFile(path));
    keys.push_back(std::move(k));
  }
  FollowerOptions fopts;
  PL_ASSIGN_OR_RETURN(fopts.poll_ms, NarrowFlag<uint32_t>(FLAGS_follow_poll_ms, "follow_poll_ms"));
  if (fopts.poll_ms == 0) return InvalidArgumentError("--follow_poll_ms must be positive");
  PbftOptions popts;
  PL_ASSIGN_OR_RETURN(popts.block_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_block_timeout_ms, "block_timeout_ms"));
  PL_ASSIGN_OR_RETURN(popts.max_block_batches,
                      NarrowFlag<size_t>(FLAGS_max_block_batches, "max_block_batches"));
  PL_ASSIGN_OR_RETURN(popts.view_change_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_view_change_timeout_ms, "view_change_timeout_ms"));
  popts.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
  popts.window = absl::GetFlag(FLAGS_window);
  popts.block_cut_in_flight = absl::GetFlag(FLAGS_block_cut_in_flight);
  PL_ASSIGN_OR_RETURN(popts.apply_queue, NarrowFlag<size_t>(FLAGS_apply_queue, "apply_queue"));
  popts.persist_votes = absl::GetFlag(FLAGS_persist_votes);

  // A port in use is refused before anything else starts: a second process must never answer
  // for (or vote beside) the one already listening. The listen address is the flag's, else
  // the genesis one for our id, else (a validator added later) the set in force's.
  std::string listen = absl::GetFlag(FLAGS_listen);
  if (listen.empty() && genesis.IndexOf(node_id)) {
    listen = genesis.validators[*genesis.IndexOf(node_id)].address;
  }
  const bool probed = !listen.empty();
  // The one answer to a listen address we cannot serve on: ev=listen_failed, exit code 2.
  auto listen_failed = [&](const std::string& err) {
    const std::optional<HostPort> hp = SplitHostPort(listen);
    LogError("listen_failed").Kv("listen", listen).Kv("port", hp ? hp->port : "").Kv("err", err);
    *exit_code = kExitListenFailed;
    return UnavailableError("cannot listen on " + listen + ": " + err);
  };
  auto probe_listen = [&]() -> Status {
    Status probe = ProbeListen(listen);
    return probe.ok() ? OkStatus() : listen_failed(probe.message());
  };
  if (probed) PL_RETURN_IF_ERROR(probe_listen());
  // The metrics port is taken now, so that a port in use stops the node before it opens
  // its store (the same exit code as for --listen).
  auto metrics_server = metrics::StartMetricsServer(absl::GetFlag(FLAGS_metrics_listen));
  if (!metrics_server.ok()) {
    *exit_code = kExitListenFailed;
    return metrics_server.status();
  }

  ::mkdir(data_dir.c_str(), 0700);
  ledger::StoreOptions sopts;
  sopts.path = data_dir + "/chain";
  // A damaged head block is fetched again from the peers.
  sopts.open_damaged_head = true;
  sopts.light = light;
  // A light store does not pin states: a pinned state would keep the bodies it prunes on disk.
  sopts.state_interval = light ? 0 : absl::GetFlag(FLAGS_state_interval);
  CatchUpOptions copts;
  PL_ASSIGN_OR_RETURN(copts.mode, ParseCatchUpMode(absl::GetFlag(FLAGS_catch_up)));
  copts.min_blocks = absl::GetFlag(FLAGS_catch_up_min_blocks);
  copts.state_peers = SplitFlagList(absl::GetFlag(FLAGS_state_peers));
  auto opened = ledger::BlockStore::Open(sopts, genesis.chain_id);
  if (opened.status().code() == StatusCode::kUnimplemented) {
    // A store written by a newer build: never read it with this one's layout.
    LogError("store_format_unsupported")
        .Kv("path", sopts.path)
        .Kv("err", opened.status().ToString());
    *exit_code = kExitUnusableState;
    return opened.status();
  }
  PL_ASSIGN_OR_RETURN(auto store, std::move(opened));
  if (store->migrated_from() != 0) {
    LogInfo("store_migrated").Kv("path", sopts.path).Kv("from", store->migrated_from());
  }
  auto stored_genesis = store->GetMeta("genesis_hash");
  if (stored_genesis.ok() && *stored_genesis != genesis.file_hash) {
    return FailedPreconditionError("data dir " + data_dir + " was made with another genesis file");
  }
  if (!stored_genesis.ok()) {
    Status put = store->PutMeta("genesis_hash", genesis.file_hash);
    if (!put.ok()) {
      LogError("store_write_failed")
          .Kv("height", store->height())
          .Kv("during", "open")
          .Kv("err", put.ToString());
      *exit_code = kExitStoreWriteFailed;
      return put;
    }
  }
  {
    // An empty store may start at a recent checkpoint instead of block 1 (docs/CATCHUP.md).
    CheckpointJoiner joiner(store.get(), &genesis, node_id, copts);
    auto joined = joiner.Run();
    if (!joined.ok()) {
      if (!store->write_status().ok()) {
        LogError("store_write_failed").Kv("height", 0).Kv("during", "catch_up");
        *exit_code = kExitStoreWriteFailed;
      }
      return joined.status();
    }
  }
  PL_ASSIGN_OR_RETURN(auto registry_rows, store->RegistryScan(""));
  PL_ASSIGN_OR_RETURN(auto snapshot, ledger::RegistrySnapshot::FromRows(registry_rows, &genesis));
  RegistryHolder registry(snapshot);
  // A follower never checks duplicates: it drops every per-record index entry of the blocks
  // it prunes; a validator keeps record_index and device_seq for its duplicate checks.
  std::unique_ptr<Pruner> pruner, validator_pruner;
  std::unique_ptr<RemoteRecordFetcher> fetcher;
  if (light) {
    // The set in force at our height may name full validators the genesis does not.
    if (const auto schedule = registry.Get()->schedule(); schedule != nullptr) {
      full_nodes = FullNodeAddresses(genesis, &schedule->SetAt(store->height() + 1), node_id,
                                     absl::GetFlag(FLAGS_full_nodes));
    }
    pruner = std::make_unique<Pruner>(
        store.get(), retention, [] { return NowMs(); }, ledger::PrunedIndexes::kAll);
    validator_pruner = std::make_unique<Pruner>(
        store.get(), retention, [] { return NowMs(); }, ledger::PrunedIndexes::kHistory);
    fetcher = RemoteRecordFetcher::OverGrpc(full_nodes, kRemoteFetchDeadlineMs);
    fopts.pruner = pruner.get();
    popts.pruner = validator_pruner.get();
  }

  // The validator set in force at our height decides the role (and the epoch), after a
  // restart too: the store holds the schedule.
  PlanSource plans = [&genesis, &registry, st = store.get()]() -> StatusOr<EpochPlan> {
    const auto schedule = registry.Get()->schedule();
    return schedule != nullptr ? PlanAt(*schedule, st->height())
                               : GenesisPlan(genesis, st->height());
  };
  PL_ASSIGN_OR_RETURN(EpochPlan plan, plans());
  const NodeRole first_role = RoleIn(plan.set, node_id, keys);
  const auto in_set = EpochGenesis(genesis, plan.set).IndexOf(node_id);
  if (follow && in_set && !first_role.validator) {
    // No key of ours is the one the set names for this id: a typo or a copied command line,
    // not a follower (a promoted follower restarted with --follow holds its key).
    return InvalidArgumentError("node id '" + node_id +
                                "' is a validator in the set in force and no key given is "
                                "its key: a follower needs an id of its own");
  }
  if (!follow && !in_set && !genesis.IndexOf(node_id)) {
    return InvalidArgumentError("node id '" + node_id + "' is not a validator in " + genesis_path +
                                " nor in the set in force (a follower needs --follow)");
  }
  if (listen.empty() && in_set) listen = plan.set[*in_set].address;
  if (listen.empty()) {
    return InvalidArgumentError("--listen is needed: the validator set names no address for '" +
                                node_id + "'");
  }
  if (!probed) PL_RETURN_IF_ERROR(probe_listen());

  RoleSwitcher::Factory make = [&, st = store.get()](
                                   const ledger::Genesis* epoch_genesis, const EpochPlan& p,
                                   const NodeRole& role) -> StatusOr<std::unique_ptr<Orderer>> {
    if (role.validator && st->index_pruned_below() > 1) {
      // This light node pruned as a follower and dropped the record and (device, seq) index
      // entries of old blocks: it could not refuse their duplicates, so it must not vote.
      LogError("light_cannot_validate")
          .Kv("epoch", p.epoch)
          .Kv("index_pruned_below", st->index_pruned_below())
          .Kv("err",
              "the set in force names this node, but as a light follower it dropped the "
              "duplicate-check indexes below that height; it goes on following. Run the "
              "validator from an empty --data_dir (--mode=full, or light if its genesis "
              "entry says so)");
    }
    if (!role.validator || st->index_pruned_below() > 1) {
      PL_ASSIGN_OR_RETURN(auto f, FollowerOrderer::Create(st, epoch_genesis, &registry, fopts));
      return std::unique_ptr<Orderer>(std::move(f));
    }
    PbftEpoch epoch;
    epoch.epoch = p.epoch;
    epoch.pending_end = [plans] {
      auto now = plans();
      return now.ok() ? now->pending_end : 0;
    };
    return std::unique_ptr<Orderer>(std::make_unique<PbftOrderer>(
        st, epoch_genesis, keys[role.key], role.index, &registry, popts, std::move(epoch)));
  };
  PL_ASSIGN_OR_RETURN(
      std::unique_ptr<Orderer> orderer,
      RoleSwitcher::Create(&genesis, node_id, keys, plans, make, RoleSwitcherOptions()));
  // Registered on every node: a follower may become a validator at an epoch's end.
  auto consensus_service = std::make_unique<ConsensusService>(orderer.get());
  LedgerService service(&genesis, node_id, store.get(), &registry, orderer.get(), BatchLimits());
  if (light) service.EnableLight(fetcher.get(), pruner.get());
  std::unique_ptr<StateAttester> attester;
  // Any node holding a key attests the heights at which the set in force names it with one of
  // its keys (a validator added later or promoted from follower, a rekeyed one with its new
  // key); a removed one stops. Joiners check against the set at each height (docs/CATCHUP.md).
  if (!keys.empty() && sopts.state_interval > 0) {
    attester = std::make_unique<StateAttester>(store.get(), &genesis, keys, node_id,
                                               [&registry] { return registry.Get()->schedule(); });
  }
  StateSyncService state_sync(store.get(), attester.get());

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second node on a port in use would bind it too
  // and answer for the first. Without it, a taken port fails to bind.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(listen, client::ServerCredentials(std::make_shared<AccessProcessor>()),
                           &port);
  builder.RegisterService(&service);
  builder.RegisterService(&state_sync);
  builder.RegisterService(consensus_service.get());
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  builder.SetMaxSendMessageSize(64 * 1024 * 1024);
  client::ApplyServerKeepalive(&builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    Status why = ProbeListen(listen);
    Status failed = listen_failed(why.ok() ? "bind failed" : why.message());
    orderer.reset();
    attester.reset();
    return failed;
  }

  // Read at each scrape; removed before the orderer and the store go.
  auto node_metrics = RegisterNodeCallbacks(store.get(), orderer.get());
  LogInfo("node_ready")
      .Kv("listen", listen)
      .Kv("chain", genesis.chain_id)
      .Kv("height", store->height())
      .Kv("head", ShortHex(store->head_hash()))
      .Kv("validators", plan.set.size())
      .Kv("epoch", plan.epoch)
      .Kv("role", first_role.validator ? "validator" : "follower")
      .Kv("transport", client::TransportIsSecure() ? "tls" : "insecure")
      .Kv("mode", mode)
      .Kv("pruned_below", store->pruned_below())
      .Kv("full_nodes", light ? std::to_string(full_nodes.size()) : "-");
  uint64_t last_height = store->height();
  auto last_report = std::chrono::steady_clock::now();
  RunUntilStopSignal([&] {
    if (!orderer->failure().ok()) RequestStop();  // a store write failed: stop, see below
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
  Status failure = orderer->failure();
  LogInfo("node_stopping")
      .Kv("height", store->height())
      .Kv("reason", failure.ok() ? "signal" : "store_write_failed");
  node_metrics.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  orderer.reset();  // before the store it writes
  attester.reset();
  store.reset();  // closes RocksDB (without a flush after a failed write)
  if (!failure.ok()) {
    *exit_code = kExitStoreWriteFailed;
    return failure;
  }
  return OkStatus();
}

}  // namespace
}  // namespace provledger::node

int main(int argc, char** argv) {
  int exit_code = 1;
  provledger::Status s = provledger::node::Run(argc, argv, &exit_code);
  if (!s.ok()) {
    std::fprintf(stderr, "ledger_node: %s\n", s.ToString().c_str());
    return exit_code;
  }
  return 0;
}
