// Accounts (docs/ACCOUNTS.md): a device's signed or MACed statement of which messages it
// sent, so that a gateway that drops readings is caught (`ledgerctl audit`). The device
// keeps a running hash chain over the D (PROTOCOL.md section 5) of each message it sends,
// in seq order:
//
//   head' = SHA256("pl/v1/chain" || head || D)      (the first head of a chain: 32 zero bytes)
//
// and publishes, every N messages or T ms, an account on {prefix}/{device}/account, with the
// pl- properties of a reading and item "_account" in D:
//
//   {"v":1,"first":F,"last":L,"count":C,"runs":[[F,x],...,[y,L]],"prev":"<64 hex>","head":"<64
//   hex>"}
//
// Thread rules: pure functions; an AccountChain is owned by one thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_ACCOUNT_H_
#define PROVLEDGER_DEVICE_PROTOCOL_ACCOUNT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::device_protocol {

// One run of consecutive seqs, first <= last.
struct SeqRun {
  uint64_t first = 0;
  uint64_t last = 0;
};

// The most runs one account may hold (a device that leaves many gaps cuts accounts sooner).
constexpr size_t kMaxAccountRuns = 1024;

// An account's content.
struct Account {
  std::vector<SeqRun> runs;  // ascending, disjoint, never adjacent (canonical)
  uint64_t count = 0;        // seqs the runs cover
  Bytes prev;                // 32: the chain head before the first covered message
  Bytes head;                // 32: the chain head after the last covered message
  uint64_t first() const { return runs.empty() ? 0 : runs.front().first; }
  uint64_t last() const { return runs.empty() ? 0 : runs.back().last; }
  // The covered seqs in ascending order.
  std::vector<uint64_t> Seqs() const;
};

// SHA256("pl/v1/chain" || prev (32) || d (32)): one link of the chain.
Bytes ChainStep(ByteView prev, ByteView d);

// The head after folding `digests` (the D of the covered messages, in seq order) onto `prev`.
Bytes ChainHead(ByteView prev, const std::vector<Bytes>& digests);

// Strict parse of an account payload: one JSON object, "v" 1, runs canonical and at most
// kMaxAccountRuns, seqs in 1 .. 2^53-1, first/last/count agreeing with the runs, prev and
// head 64 lowercase hex. kInvalidArgument naming the fault (the bridge answers `malformed`).
StatusOr<Account> ParseAccount(ByteView payload);

// The payload of `account` (compact JSON, the member order of the header comment).
std::string AccountJson(const Account& account);

// The device side: the chain and the messages not yet in an account.
class AccountChain {
 public:
  // `head`: the head of the last account (32 bytes) when the device kept it across a
  // restart; empty: a new chain (32 zero bytes).
  explicit AccountChain(Bytes head = {});
  // A message sent with `seq` (above every seq added before) and its D.
  void Add(uint64_t seq, Bytes d);
  // Leaves out a message added since the last Cut (it was refused, so it is not on the ledger
  // and will be sent again under a new seq). False when it is not pending.
  bool Forget(uint64_t seq);
  size_t pending() const { return pending_.size(); }
  // Folds the pending messages into the chain and returns their account; nullopt when
  // nothing is pending. Runs are capped: a Cut covers at most kMaxAccountRuns runs, the rest
  // stays pending.
  std::optional<Account> Cut();
  const Bytes& head() const { return head_; }

 private:
  Bytes head_;
  std::vector<std::pair<uint64_t, Bytes>> pending_;  // ascending seq
};

}  // namespace provledger::device_protocol

#endif  // PROVLEDGER_DEVICE_PROTOCOL_ACCOUNT_H_
