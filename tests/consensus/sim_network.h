// A seeded, single-threaded simulated network of N PbftCores for tests.
//
// One std::mt19937_64, seeded by the test, decides every drop, delay and delivery order, so
// a seed replays exactly. Time is ticks: each tick delivers the messages due, then ticks
// every live core. The adversary drops, delays and reorders messages, partitions the
// replicas, crashes and restarts them, replays old messages, and runs Byzantine replicas.
// Every committed block is checked as it is applied (safety: no two honest replicas commit
// different header hashes at one height; certificates hold 2f+1 valid distinct signatures),
// and every vote sent (no honest replica signs two digests for one (type, view, height),
// across restarts too); the first violation is kept in safety_violation(). Each replica
// has a "disk" of the votes its core asked to persist (CoreOutput::to_persist_votes),
// written before that output's messages leave; a restart hands them back to the new core.
//
// Validator-set changes (epochs): replicas are "members" with ids 0, 1, ...; the genesis set
// is members 0..n-1. ChangeSetAt(h, set) stands for a set change committed in the block at
// height h: in force above E = ledger::EpochEndFor(h). The network plays the node shell's
// part: a member that applies h calls EndEpochAt(E) on its core; one that applies E builds
// the next epoch's core (view 0, at E, its index in the new set) and keeps the finished
// core to answer peers still behind; a member left out stops; a member added starts at E
// with the blocks (as a follower would have them). A restarted member gets the core of the
// epoch its blocks reach, plus a finished core of the previous epoch to answer laggards.
// Messages go to a member's core of their epoch, else to its current core (which drops
// them: kOtherEpoch; a message of a later epoch makes the member fetch blocks, as a shell
// catches up). Certificates are checked against the set in force at their height.
// Thread rules: not thread-safe; one test drives it.
#ifndef PROVLEDGER_TESTS_CONSENSUS_SIM_NETWORK_H_
#define PROVLEDGER_TESTS_CONSENSUS_SIM_NETWORK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "consensus/pbft_core.h"
#include "tests/consensus/fakes.h"

namespace provledger {
namespace consensus {
namespace testing {

enum class Byzantine {
  kHonest,
  kEquivocate,   // as primary: a different pre-prepare for odd-numbered backups
  kWrongDigest,  // prepares and commits name a wrong digest
  kForge,        // also sends copies claiming another sender, with bad signatures
};

// A validator of a set: the member and which of its keys (0 = its first, 1 after one
// key replacement, ...).
struct SimMember {
  uint32_t member = 0;
  uint32_t key_version = 0;
};

class SimNetwork {
 public:
  // `base` gives every setting but n and self. Prints nothing; call Describe() on failure.
  SimNetwork(uint32_t n, uint64_t seed, PbftConfig base);

  // Adversary. `from`/`to` of -1 mean any replica.
  void Drop(int from, int to, double p);
  void Delay(uint64_t max_extra_ticks) { max_delay_ = max_extra_ticks; }
  void Reorder(bool on) { reorder_ = on; }
  void Partition(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);
  void Replay(double p_per_tick) { replay_p_ = p_per_tick; }
  // Ends partitions, drops, delays, reordering and replays.
  void Heal();
  void Crash(uint32_t i);
  // A crashed replica comes back with its applied blocks (as from its store), in view 0,
  // and with its persisted votes (RestoreVotes) unless `with_votes` is false (a replica
  // that lost them: for tests showing what the rule prevents).
  void Restart(uint32_t i, bool with_votes = true);
  void SetByzantine(uint32_t i, Byzantine b) { byzantine_[i] = b; }
  // A state transfer asked for by a core completes `ticks` later (0: at once), as a slow
  // fetch from peers does in a real node; the core keeps ticking meanwhile.
  void SetStateTransferLag(uint64_t ticks) { transfer_lag_ = ticks; }

  // Validator-set changes. A change "committed at `height`" to `set` (whole set, primary
  // order): in force above EpochEndFor(height). Call before any member applies `height`,
  // with heights above the previous change's; members new to the network get the next ids.
  // Returns the epoch E.
  uint64_t ChangeSetAt(uint64_t height, std::vector<SimMember> set);
  // Members of the set in force above `height` (the latest epoch starting below it).
  std::vector<SimMember> SetAt(uint64_t height) const;
  // The epoch of member i's current core (0 before any change), and whether it left the
  // validator set for good (removed, stopped).
  uint64_t epoch_of(uint32_t i) const { return core_epoch_[i]; }
  bool removed(uint32_t i) const { return removed_[i]; }
  uint32_t members() const { return static_cast<uint32_t>(cores_.size()); }
  // Signs `m` as member `member` with its key `key_version` (for tests that forge).
  static ConsensusMsg SignAs(const std::string& chain_id, uint32_t member, uint32_t key_version,
                             ConsensusMsg m);
  // Hands `m` to member `to` now, as the network would.
  void DeliverNow(uint32_t to, const ConsensusMsg& m);

  // Client side: makes request number k, and hands it to every live replica.
  static Request MakeRequest(uint64_t k);
  void Submit(const Request& req);
  // Hands `req` to live member `i` alone (a client that gave it to one validator), and
  // never again: RunUntilAllCommitted neither waits for it nor resubmits it.
  void SubmitTo(uint32_t i, const Request& req);
  void SubmitRange(uint64_t first, uint64_t count);

  void RunTicks(uint64_t ticks);
  // Runs until every honest live replica committed every submitted request, resubmitting
  // uncommitted ones every `retry_ticks` (a client retransmits). False after `max_ticks`.
  bool RunUntilAllCommitted(uint64_t max_ticks, uint64_t retry_ticks = 200);
  // True when every honest live replica is in one view and not changing views.
  bool AllInOneView() const;
  // Runs until AllInOneView(); returns the ticks it took, or max_ticks + 1 if it never was.
  uint64_t RunUntilOneView(uint64_t max_ticks);

  bool honest(uint32_t i) const { return byzantine_.at(i) == Byzantine::kHonest; }
  bool up(uint32_t i) const { return cores_[i] != nullptr; }
  PbftCore& core(uint32_t i) { return *cores_[i]; }
  // Messages member i's current core dropped for `r` (0 when it is down).
  uint64_t dropped(uint32_t i, DropReason r) const { return up(i) ? cores_[i]->dropped(r) : 0; }
  uint64_t committed_height(uint32_t i) const { return chains_[i].size(); }
  // True when member i applied a block holding request `id`.
  bool has_committed(uint32_t i, const Bytes& id) const { return committed_ids_[i].count(id) > 0; }
  // Header hash replica i committed at `height` (1-based), or "" if none.
  Bytes committed_hash(uint32_t i, uint64_t height) const;
  uint64_t now() const { return now_; }
  uint64_t seed() const { return seed_; }
  const std::string& safety_violation() const { return violation_; }
  uint64_t delivered() const { return delivered_; }
  // Votes the cores refused to send (a second digest for one already cast), over the run.
  uint64_t refused_votes() const { return refused_votes_; }
  // Replica i's persisted votes, as a restart would restore them.
  size_t persisted_votes(uint32_t i) const {
    auto it = disk_votes_.find(i);
    return it == disk_votes_.end() ? 0 : it->second.size();
  }
  // One line: seed, tick, per replica view/height/mode, for failure messages.
  std::string Describe() const;

 private:
  struct Event {
    uint64_t time = 0;
    uint64_t order = 0;
    uint32_t to = 0;
    bool is_request = false;
    ConsensusMsg msg;
    Request req;
    bool operator>(const Event& o) const {
      return time != o.time ? time > o.time : order > o.order;
    }
  };
  struct Applied {
    Bytes hash;
    std::vector<Bytes> ids;
  };
  struct Epoch {
    uint64_t change_height = 0;  // the block holding the change (0 for genesis)
    std::vector<SimMember> set;
    std::unique_ptr<FakeSetChecker> checker;
  };

  void Schedule(uint32_t from, uint32_t to, Event e);
  void Collect(uint32_t i) { Collect(i, false); }
  // Handles the output of member i's current core, or (`finished`) its previous epoch's.
  void Collect(uint32_t i, bool finished);
  void CheckNoSecondVote(uint32_t i, const ConsensusMsg& m);
  std::vector<ConsensusMsg> Mutate(uint32_t from, uint32_t to, const ConsensusMsg& m);
  void Record(uint32_t i, const CommittedBlock& b);
  void RecordApplied(uint32_t i, uint64_t height, const Applied& a);
  void StateTransfer(uint32_t i);
  void RunDueTransfers();
  void Step();
  void Deliver(const Event& e);
  // A core for member i in epoch `epoch` with blocks up to `height` applied (from its chain),
  // told the epoch's end if the change is at or below `height`. *signer gets its signer.
  std::unique_ptr<PbftCore> MakeCore(uint32_t i, uint64_t epoch, uint64_t height,
                                     std::unique_ptr<FakeSigner>* signer);
  void RestoreVotesOf(uint32_t i, PbftCore* core);
  // The shell's reaction to member i applying `height`: EndEpochAt, starting added members.
  void OnApplied(uint32_t i, uint64_t height);
  // Moves member i to the epoch its chain reached, if that is another one.
  void MaybeSwitchEpoch(uint32_t i);
  void StartMember(uint32_t m, uint32_t from);
  void AddMembersUpTo(uint32_t count);
  // The epoch a member with `height` applied works in, and the one ordering `height`.
  uint64_t EpochAtHeight(uint64_t height) const;
  uint64_t EpochOrdering(uint64_t height) const;
  // Index of `member` in epoch's set, or -1.
  int IndexIn(uint64_t epoch, uint32_t member) const;
  uint32_t KeyId(uint64_t epoch, uint32_t member) const;

  uint64_t seed_;
  PbftConfig base_;
  std::mt19937_64 rng_;
  uint64_t now_ = 0;
  uint64_t order_ = 0;
  uint64_t delivered_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  std::map<uint64_t, Epoch> epochs_;  // by start height
  // Per member (index = member id):
  std::vector<std::unique_ptr<FakeSigner>> signers_;
  std::vector<std::unique_ptr<FakeBlockFactory>> factories_;
  std::vector<std::unique_ptr<PbftCore>> cores_;
  std::vector<uint64_t> core_epoch_;
  // A finished core of the previous epoch, answering laggards; its epoch and signer.
  std::vector<std::unique_ptr<PbftCore>> old_cores_;
  std::vector<uint64_t> old_epoch_;
  std::vector<std::unique_ptr<FakeSigner>> old_signers_;
  std::vector<bool> started_;
  std::vector<bool> removed_;
  std::map<uint32_t, Byzantine> byzantine_;
  std::vector<std::vector<Applied>> chains_;  // per replica, index = height - 1
  std::map<uint64_t, Bytes> honest_hashes_;   // first honest hash seen per height
  std::vector<std::set<Bytes>> committed_ids_;
  std::map<std::pair<int, int>, double> drop_;
  std::vector<int> group_;
  uint64_t max_delay_ = 0;
  bool reorder_ = false;
  double replay_p_ = 0;
  std::vector<std::pair<uint32_t, ConsensusMsg>> history_;  // for replays, bounded
  std::vector<Request> submitted_;
  std::vector<size_t> checked_upto_;  // per member: submitted_[0..k) seen committed
  uint64_t transfer_lag_ = 0;
  std::map<uint32_t, uint64_t> transfer_due_;  // replica -> tick its transfer completes
  std::map<uint32_t, uint64_t> hinted_at_;     // member -> tick of its last later-epoch hint
  using VoteKey = std::tuple<uint8_t, uint64_t, uint64_t>;     // (type, view, height)
  std::map<uint32_t, std::map<VoteKey, Bytes>> disk_votes_;    // persisted, per replica
  std::map<uint32_t, std::map<VoteKey, Bytes>> signed_votes_;  // every vote sent, never pruned
  uint64_t refused_votes_ = 0;
  std::string violation_;
};

}  // namespace testing
}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_TESTS_CONSENSUS_SIM_NETWORK_H_
