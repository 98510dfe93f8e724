#include "device_protocol/account.h"

#include <algorithm>

#include "common/json.h"
#include "common/sha256.h"

namespace provledger::device_protocol {
namespace {

constexpr char kChainTag[] = "pl/v1/chain";
constexpr uint64_t kMaxSeq = (uint64_t{1} << 53) - 1;

Status Bad(const std::string& what) { return InvalidArgumentError("account: " + what); }

StatusOr<Bytes> Hash32(const JsonValue& doc, const char* key) {
  auto s = doc.GetString(key);
  if (!s.ok()) return Bad(std::string("\"") + key + "\" missing or not a string");
  auto b = HexDecodeFixed(*s, 32);
  if (!b.ok()) return Bad(std::string("\"") + key + "\" is not 64 lowercase hex");
  return b;
}

}  // namespace

std::vector<uint64_t> Account::Seqs() const {
  std::vector<uint64_t> out;
  out.reserve(count);
  for (const SeqRun& r : runs) {
    for (uint64_t s = r.first; s <= r.last; ++s) out.push_back(s);
  }
  return out;
}

Bytes ChainStep(ByteView prev, ByteView d) {
  Sha256Hasher h;
  h.Update(kChainTag);
  h.Update(prev);
  h.Update(d);
  return h.Finish();
}

Bytes ChainHead(ByteView prev, const std::vector<Bytes>& digests) {
  Bytes head(prev);
  for (const Bytes& d : digests) head = ChainStep(head, d);
  return head;
}

StatusOr<Account> ParseAccount(ByteView payload) {
  auto doc = ParseJson(payload);
  if (!doc.ok()) return Bad(doc.status().message());
  if (!doc->is_object()) return Bad("not a JSON object");
  auto v = doc->GetInt("v");
  if (!v.ok()) return Bad("\"v\" missing or not an integer");
  if (*v != 1) return Bad("\"v\" is not 1");
  Account a;
  auto runs = doc->GetArray("runs");
  if (!runs.ok()) return Bad("\"runs\" missing or not an array");
  const auto& items = (*runs)->items();
  if (items.empty()) return Bad("\"runs\" is empty");
  if (items.size() > kMaxAccountRuns) {
    return Bad("more than " + std::to_string(kMaxAccountRuns) + " runs");
  }
  uint64_t count = 0;
  for (const JsonValue& r : items) {
    if (!r.is_array() || r.items().size() != 2 || !r.items()[0].is_int() ||
        !r.items()[1].is_int()) {
      return Bad("a run is not [first,last]");
    }
    SeqRun run{r.items()[0].int_value(), r.items()[1].int_value()};
    if (run.first == 0 || run.first > run.last || run.last > kMaxSeq) {
      return Bad("run [" + std::to_string(run.first) + "," + std::to_string(run.last) +
                 "] is not 1 <= first <= last <= 2^53-1");
    }
    if (!a.runs.empty() && run.first <= a.runs.back().last + 1) {
      return Bad("runs not ascending, overlapping or adjacent");
    }
    count += run.last - run.first + 1;
    a.runs.push_back(run);
  }
  auto first = doc->GetInt("first");
  auto last = doc->GetInt("last");
  auto c = doc->GetInt("count");
  if (!first.ok() || !last.ok() || !c.ok()) {
    return Bad("\"first\", \"last\" or \"count\" missing or not an integer");
  }
  if (*first != a.first() || *last != a.last()) return Bad("first/last differ from the runs");
  if (*c != count) return Bad("\"count\" differs from the runs");
  a.count = count;
  PL_ASSIGN_OR_RETURN(a.prev, Hash32(*doc, "prev"));
  PL_ASSIGN_OR_RETURN(a.head, Hash32(*doc, "head"));
  return a;
}

std::string AccountJson(const Account& account) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("first", JsonValue::Int(account.first()));
  o.Set("last", JsonValue::Int(account.last()));
  o.Set("count", JsonValue::Int(account.count));
  JsonValue runs = JsonValue::Array();
  for (const SeqRun& r : account.runs) {
    runs.Push(JsonValue::Array({JsonValue::Int(r.first), JsonValue::Int(r.last)}));
  }
  o.Set("runs", std::move(runs));
  o.Set("prev", JsonValue::String(HexEncode(account.prev)));
  o.Set("head", JsonValue::String(HexEncode(account.head)));
  return WriteJson(o);
}

AccountChain::AccountChain(Bytes head)
    : head_(head.size() == 32 ? std::move(head) : Bytes(32, '\0')) {}

void AccountChain::Add(uint64_t seq, Bytes d) { pending_.emplace_back(seq, std::move(d)); }

bool AccountChain::Forget(uint64_t seq) {
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [seq](const auto& p) { return p.first == seq; });
  if (it == pending_.end()) return false;
  pending_.erase(it);
  return true;
}

std::optional<Account> AccountChain::Cut() {
  if (pending_.empty()) return std::nullopt;
  Account a;
  a.prev = head_;
  size_t taken = 0;
  for (; taken < pending_.size(); ++taken) {
    const uint64_t seq = pending_[taken].first;
    if (!a.runs.empty() && a.runs.back().last + 1 == seq) {
      a.runs.back().last = seq;
    } else {
      if (a.runs.size() == kMaxAccountRuns) break;
      a.runs.push_back(SeqRun{seq, seq});
    }
    head_ = ChainStep(head_, pending_[taken].second);
    ++a.count;
  }
  a.head = head_;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
  return a;
}

}  // namespace provledger::device_protocol
