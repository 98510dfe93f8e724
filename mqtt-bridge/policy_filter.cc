#include "mqtt-bridge/policy_filter.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "common/json.h"
#include "ledger/record.h"

namespace provledger {
namespace bridge {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::optional<double> ToDouble(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// "-?[0-9]+(\.[0-9]+)?", nothing else.
std::optional<double> PlainDecimal(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t digits = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == digits) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    size_t frac = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == frac) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return ToDouble(s);
}

}  // namespace

Status WritePolicy::Validate() const {
  switch (kind) {
    case Kind::kAll:
      return OkStatus();
    case Kind::kPeriodic:
      if (interval_ms == 0) return InvalidArgumentError("periodic policy: interval_ms is 0");
      return OkStatus();
    case Kind::kChange:
      if (!std::isfinite(threshold) || threshold < 0) {
        return InvalidArgumentError("change policy: threshold must be finite and >= 0");
      }
      return OkStatus();
  }
  return InvalidArgumentError("write policy: unknown kind");
}

Status ParsePolicySpec(const std::string& spec, std::map<std::string, WritePolicy>* out) {
  const size_t a = spec.find(':');
  if (a == std::string::npos)
    return InvalidArgumentError("policy '" + spec + "': want ITEM:KIND[:ARG]");
  const std::string item = spec.substr(0, a);
  std::string kind = spec.substr(a + 1), arg;
  const size_t b = kind.find(':');
  if (b != std::string::npos) {
    arg = kind.substr(b + 1);
    kind = kind.substr(0, b);
  }
  if (!ledger::IsValidName(item))
    return InvalidArgumentError("policy item '" + item + "' is not a valid name");
  WritePolicy p;
  try {
    if (kind == "all" && arg.empty()) {
      p = WritePolicy::All();
    } else if (kind == "periodic" && !arg.empty()) {
      p = WritePolicy::Periodic(std::stoull(arg));
    } else if (kind == "change" && !arg.empty()) {
      p = WritePolicy::Change(std::stod(arg));
    } else {
      return InvalidArgumentError("policy '" + spec +
                                  "': kinds are all, periodic:MS, change:THRESHOLD");
    }
  } catch (const std::exception&) {
    return InvalidArgumentError("policy '" + spec + "': bad number");
  }
  PL_RETURN_IF_ERROR(p.Validate());
  (*out)[item] = p;
  return OkStatus();
}

std::optional<double> NumericValue(ByteView payload) {
  size_t b = 0, e = payload.size();
  while (b < e && IsWs(payload[b])) ++b;
  while (e > b && IsWs(payload[e - 1])) --e;
  std::string_view text = payload.substr(b, e - b);
  if (text.empty()) return std::nullopt;
  if (text[0] == '{') {
    StatusOr<double> value = ParseJsonNumberMember(text, "value");
    if (!value.ok()) return std::nullopt;
    return *value;
  }
  return PlainDecimal(text);
}

PolicyFilter::PolicyFilter(std::map<std::string, WritePolicy> per_item, WritePolicy default_policy)
    : per_item_(std::move(per_item)), default_policy_(default_policy) {}

Status PolicyFilter::Validate() const {
  PL_RETURN_IF_ERROR(default_policy_.Validate().Annotate("default policy"));
  for (const auto& [item, policy] : per_item_) {
    PL_RETURN_IF_ERROR(policy.Validate().Annotate("item " + item));
  }
  return OkStatus();
}

const WritePolicy& PolicyFilter::PolicyFor(const std::string& item) const {
  auto it = per_item_.find(item);
  return it == per_item_.end() ? default_policy_ : it->second;
}

PolicyDecision PolicyFilter::Decide(const std::string& device, const std::string& item, uint64_t ts,
                                    ByteView payload) {
  const WritePolicy& policy = PolicyFor(item);
  switch (policy.kind) {
    case WritePolicy::Kind::kAll:
      return PolicyDecision::kRecord;
    case WritePolicy::Kind::kPeriodic: {
      auto it = state_.find({device, item});
      if (it != state_.end() && it->second.last_ts &&
          (ts < *it->second.last_ts || ts - *it->second.last_ts < policy.interval_ms)) {
        return PolicyDecision::kSkip;
      }
      Touch(device, item).last_ts = ts;
      return PolicyDecision::kRecord;
    }
    case WritePolicy::Kind::kChange: {
      std::optional<double> value = NumericValue(payload);
      if (!value) return PolicyDecision::kRecord;
      auto it = state_.find({device, item});
      if (it != state_.end() && it->second.last_value &&
          std::fabs(*value - *it->second.last_value) < policy.threshold) {
        return PolicyDecision::kSkip;
      }
      ItemState& state = Touch(device, item);
      state.last_value = value;
      state.last_ts = ts;
      return PolicyDecision::kRecord;
    }
  }
  return PolicyDecision::kRecord;
}

PolicyFilter::ItemState& PolicyFilter::Touch(const std::string& device, const std::string& item) {
  StateKey key{device, item};
  auto it = state_.find(key);
  if (before_.find(key) == before_.end()) {
    before_[key] = it == state_.end() ? std::nullopt : std::optional<ItemState>(it->second);
  }
  return it == state_.end() ? state_[key] : it->second;
}

namespace {
constexpr uint8_t kHasTs = 1, kHasValue = 2;

Bytes EncodeKey(const std::string& device, const std::string& item) {
  Bytes out;
  AppendLp(&out, device);
  AppendLp(&out, item);
  return out;
}
}  // namespace

std::vector<std::pair<Bytes, Bytes>> PolicyFilter::Dirty() const {
  std::vector<std::pair<Bytes, Bytes>> out;
  for (const auto& [key, unused] : before_) {
    (void)unused;
    const ItemState& st = state_.at(key);
    // u8 flags || u64be(last_ts) || u64be(IEEE 754 bits of last_value)
    Bytes v;
    AppendU8(&v, static_cast<uint8_t>((st.last_ts ? kHasTs : 0) | (st.last_value ? kHasValue : 0)));
    AppendU64(&v, st.last_ts.value_or(0));
    uint64_t bits = 0;
    const double d = st.last_value.value_or(0);
    static_assert(sizeof bits == sizeof d, "double is 64 bits");
    std::memcpy(&bits, &d, sizeof bits);
    AppendU64(&v, bits);
    out.emplace_back(EncodeKey(key.first, key.second), std::move(v));
  }
  return out;
}

void PolicyFilter::Commit() { before_.clear(); }

void PolicyFilter::Rollback() {
  for (auto& [key, old] : before_) {
    if (old) {
      state_[key] = *old;
    } else {
      state_.erase(key);
    }
  }
  before_.clear();
}

Status PolicyFilter::Restore(ByteView key, ByteView state) {
  ByteReader kr(key);
  Bytes device, item;
  if (!kr.ReadLp(&device, 1024).ok() || !kr.ReadLp(&item, 1024).ok() || !kr.done()) {
    return InvalidArgumentError("policy state: key does not parse");
  }
  ByteReader vr(state);
  uint8_t flags = 0;
  uint64_t ts = 0, bits = 0;
  if (!vr.ReadU8(&flags).ok() || !vr.ReadU64(&ts).ok() || !vr.ReadU64(&bits).ok() || !vr.done() ||
      (flags & ~(kHasTs | kHasValue)) != 0) {
    return InvalidArgumentError("policy state of " + device + "/" + item + ": does not parse");
  }
  ItemState st;
  if (flags & kHasTs) st.last_ts = ts;
  if (flags & kHasValue) {
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) {
      return InvalidArgumentError("policy state of " + device + "/" + item + ": bad value");
    }
    st.last_value = d;
  }
  state_[{device, item}] = st;
  return OkStatus();
}

}  // namespace bridge
}  // namespace provledger
