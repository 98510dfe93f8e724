// ledgerctl audit DEVICE: the device's accounts (docs/ACCOUNTS.md) against what the ledger
// recorded. Every seq an account covers must be on the ledger, and the chain recomputed over
// the recorded messages must reach the account's head; a seq that is not there is named with
// the gateway(s) it went missing through. Exit 0 when nothing is missing, 3 when something is.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "device_protocol/account.h"
#include "ledger/record.h"
#include "tools/ledgerctl/ctl_common.h"

namespace provledger::tools {
namespace {

constexpr int kExitDiscrepancy = 3;

// One record of the device on the ledger (not an account).
struct Recorded {
  Bytes d;  // D of section 5, rebuilt from the record
  std::string gateway;
  std::string item;
  uint64_t height = 0;
};

// One account on the ledger.
struct AccountOnLedger {
  uint64_t seq = 0;  // the account message's own pl-seq
  uint64_t height = 0;
  std::string gateway;  // the gateway that took the account
  Bytes record_id;
  device_protocol::Account account;
};

struct Missing {
  uint64_t seq = 0;
  uint64_t account_seq = 0;
  std::set<std::string> gateways;  // the gateways the neighbouring messages came through
};

// What the ledger holds of `device`: its accounts and its other records by seq.
Status ReadDevice(client::LedgerClient* cl, const std::string& device,
                  std::vector<AccountOnLedger>* accounts, std::map<uint64_t, Recorded>* recorded,
                  std::vector<std::string>* warnings) {
  v1::HistoryRequest req;
  req.set_device(device);
  req.set_limit(1000);
  std::map<uint64_t, std::set<Bytes>> ids_by_height;
  while (true) {
    PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, cl->History(req));
    for (const auto& e : resp.entries()) ids_by_height[e.height()].insert(e.record_id());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  // A block holds many of the device's records: one call per block, not per record.
  for (const auto& [height, ids] : ids_by_height) {
    PL_ASSIGN_OR_RETURN(v1::Block b, cl->GetBlock(height));
    for (int i = 0; i < b.records_size(); ++i) {
      const Bytes id = ledger::RecordId(b.records(i));
      if (ids.count(id) == 0) continue;
      PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(b.records(i)));
      const ledger::RecordFields f = ledger::FieldsOf(rec);
      if (!f.from_device || f.device != device) continue;
      if (f.item == ledger::kAccountItem) {
        Bytes payload = i < b.payloads_size() ? b.payloads(i) : Bytes();
        if (payload.empty()) {  // a light node: ask for the record itself
          v1::GetRecordRequest rr;
          rr.set_record_id(id);
          PL_ASSIGN_OR_RETURN(v1::RecordResponse r, cl->GetRecord(rr));
          if (!r.has_payload()) {
            return FailedPreconditionError("the payload of account seq " + std::to_string(f.seq) +
                                           " is not kept by this node: ask a full node");
          }
          payload = r.payload();
        }
        auto a = device_protocol::ParseAccount(payload);
        if (!a.ok()) {  // the bridge refuses these; one on the ledger is worth a word
          warnings->push_back("account seq " + std::to_string(f.seq) +
                              " does not parse: " + a.status().message());
          continue;
        }
        accounts->push_back(AccountOnLedger{f.seq, height, f.gateway, id, std::move(a).value()});
        continue;
      }
      PL_ASSIGN_OR_RETURN(Bytes d, ledger::RecordDataDigest(rec));
      (*recorded)[f.seq] = Recorded{std::move(d), f.gateway, f.item, height};
    }
  }
  std::sort(accounts->begin(), accounts->end(),
            [](const AccountOnLedger& a, const AccountOnLedger& b) { return a.seq < b.seq; });
  return OkStatus();
}

// The gateways of the recorded messages just below and above `seq`, and the account's.
std::set<std::string> GatewaysAround(const std::map<uint64_t, Recorded>& recorded, uint64_t seq,
                                     const std::string& account_gateway) {
  std::set<std::string> out;
  auto above = recorded.upper_bound(seq);
  if (above != recorded.end()) out.insert(above->second.gateway);
  if (above != recorded.begin()) out.insert(std::prev(above)->second.gateway);
  if (out.empty()) out.insert(account_gateway);
  return out;
}

std::string Join(const std::set<std::string>& s, const char* sep) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : sep) + x;
  return out;
}

StatusOr<int> CmdAudit(const Ctx& c) {
  if (c.positional.size() != 2 || !ledger::IsValidName(c.positional[1])) {
    return InvalidArgumentError("usage: ledgerctl audit DEVICE");
  }
  const std::string device = c.positional[1];
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  std::vector<AccountOnLedger> accounts;
  std::map<uint64_t, Recorded> recorded;
  std::vector<std::string> warnings;
  PL_RETURN_IF_ERROR(ReadDevice(cl.get(), device, &accounts, &recorded, &warnings));

  std::vector<Missing> missing;
  std::vector<std::string> failures;  // what makes the exit code 3, for people
  JsonValue jaccounts = JsonValue::Array();
  std::set<uint64_t> covered;
  uint64_t accounted = 0;
  const Bytes zero(32, '\0');
  for (size_t k = 0; k < accounts.size(); ++k) {
    const AccountOnLedger& a = accounts[k];
    const device_protocol::Account& acc = a.account;
    // The chain links accounts: a prev that is neither the last head nor a new chain's zero
    // means an account in between is not on the ledger, and what it covered is unaccounted.
    std::string link = "linked";
    if (acc.prev == zero) {
      link = "new chain";
    } else if (k == 0) {
      link = "earlier accounts not on the ledger";
      warnings.push_back("account seq " + std::to_string(a.seq) +
                         " continues a chain whose earlier accounts are not on the ledger");
    } else if (acc.prev != accounts[k - 1].account.head) {
      link = "BROKEN";
      failures.push_back("account(s) between seq " + std::to_string(accounts[k - 1].seq) + " and " +
                         std::to_string(a.seq) +
                         " are not on the ledger (the chain does not link); messages between " +
                         std::to_string(accounts[k - 1].account.last()) + " and " +
                         std::to_string(acc.first()) + " are unaccounted; account taken by " +
                         a.gateway);
    }
    std::vector<Bytes> digests;
    size_t missing_here = 0;
    for (uint64_t s : acc.Seqs()) {
      covered.insert(s);
      auto it = recorded.find(s);
      if (it == recorded.end()) {
        missing.push_back(Missing{s, a.seq, GatewaysAround(recorded, s, a.gateway)});
        ++missing_here;
      } else {
        digests.push_back(it->second.d);
      }
    }
    accounted += acc.count;
    std::string chain;
    if (missing_here > 0) {
      chain = "not checkable (" + std::to_string(missing_here) + " missing)";
    } else if (device_protocol::ChainHead(acc.prev, digests) == acc.head) {
      chain = "matches";
    } else {
      chain = "MISMATCH";
      failures.push_back("account seq " + std::to_string(a.seq) + " (taken by " + a.gateway +
                         "): the recorded messages of seq " + std::to_string(acc.first()) + ".." +
                         std::to_string(acc.last()) +
                         " are not the ones the device sent (chain head differs)");
    }
    JsonValue o = JsonValue::Object();
    o.Set("seq", JsonValue::Int(a.seq));
    o.Set("height", JsonValue::Int(a.height));
    o.Set("gateway", JsonValue::String(a.gateway));
    o.Set("record_id", JsonValue::String(HexEncode(a.record_id)));
    o.Set("first", JsonValue::Int(acc.first()));
    o.Set("last", JsonValue::Int(acc.last()));
    o.Set("count", JsonValue::Int(acc.count));
    o.Set("missing", JsonValue::Int(missing_here));
    o.Set("chain", JsonValue::String(chain));
    o.Set("link", JsonValue::String(link));
    jaccounts.Push(std::move(o));
  }
  // Recorded, within the accounts' span, yet in no account: not a loss, worth a word.
  std::vector<uint64_t> unaccounted;
  if (!accounts.empty()) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (const auto& a : accounts) {
      lo = std::min(lo, a.account.first());
      hi = std::max(hi, a.account.last());
    }
    for (auto it = recorded.lower_bound(lo); it != recorded.end() && it->first <= hi; ++it) {
      if (covered.count(it->first) == 0) unaccounted.push_back(it->first);
    }
  }
  std::map<std::string, std::vector<uint64_t>> by_gateway;
  for (const Missing& m : missing) by_gateway[Join(m.gateways, " or ")].push_back(m.seq);
  if (!missing.empty()) {
    failures.insert(failures.begin(), std::to_string(missing.size()) +
                                          " message(s) the device sent are not on the ledger");
  }
  const bool ok = failures.empty();

  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("device", JsonValue::String(device));
    o.Set("ok", JsonValue::Bool(ok));
    o.Set("accounts", std::move(jaccounts));
    o.Set("accounted", JsonValue::Int(accounted));
    o.Set("recorded", JsonValue::Int(recorded.size()));
    JsonValue jm = JsonValue::Array();
    for (const Missing& m : missing) {
      JsonValue x = JsonValue::Object();
      x.Set("seq", JsonValue::Int(m.seq));
      x.Set("account_seq", JsonValue::Int(m.account_seq));
      JsonValue g = JsonValue::Array();
      for (const std::string& s : m.gateways) g.Push(JsonValue::String(s));
      x.Set("gateways", std::move(g));
      jm.Push(std::move(x));
    }
    o.Set("missing", std::move(jm));
    JsonValue jg = JsonValue::Object();
    for (const auto& [g, seqs] : by_gateway) {
      JsonValue a = JsonValue::Array();
      for (uint64_t s : seqs) a.Push(JsonValue::Int(s));
      jg.Set(g, std::move(a));
    }
    o.Set("missing_by_gateway", std::move(jg));
    JsonValue ju = JsonValue::Array();
    for (uint64_t s : unaccounted) ju.Push(JsonValue::Int(s));
    o.Set("unaccounted", std::move(ju));
    JsonValue jf = JsonValue::Array();
    for (const std::string& f : failures) jf.Push(JsonValue::String(f));
    o.Set("failures", std::move(jf));
    JsonValue jw = JsonValue::Array();
    for (const std::string& w : warnings) jw.Push(JsonValue::String(w));
    o.Set("warnings", std::move(jw));
    PrintJson(o);
    return ok ? 0 : kExitDiscrepancy;
  }
  if (accounts.empty()) {
    std::printf(
        "audit %s: no account on the ledger (%zu record(s)): nothing to compare; a device that "
        "never sends accounts is not audited\n",
        device.c_str(), recorded.size());
    for (const std::string& w : warnings) std::printf("warning: %s\n", w.c_str());
    return 0;
  }
  std::printf("audit %s: %zu account(s) covering %llu message(s), seq %llu..%llu\n", device.c_str(),
              accounts.size(), static_cast<unsigned long long>(accounted),
              static_cast<unsigned long long>(accounts.front().account.first()),
              static_cast<unsigned long long>(accounts.back().account.last()));
  for (const auto& o : jaccounts.items()) {
    std::printf(
        "  account seq %-8llu height %-6llu via %-12s seq %llu..%llu  %llu sent, %llu "
        "missing, chain %s (%s)\n",
        static_cast<unsigned long long>(o.Find("seq")->int_value()),
        static_cast<unsigned long long>(o.Find("height")->int_value()),
        o.Find("gateway")->string_value().c_str(),
        static_cast<unsigned long long>(o.Find("first")->int_value()),
        static_cast<unsigned long long>(o.Find("last")->int_value()),
        static_cast<unsigned long long>(o.Find("count")->int_value()),
        static_cast<unsigned long long>(o.Find("missing")->int_value()),
        o.Find("chain")->string_value().c_str(), o.Find("link")->string_value().c_str());
  }
  for (const Missing& m : missing) {
    std::printf(
        "MISSING seq %llu (in account seq %llu): sent by the device, not on the ledger; "
        "through %s\n",
        static_cast<unsigned long long>(m.seq), static_cast<unsigned long long>(m.account_seq),
        Join(m.gateways, " or ").c_str());
  }
  for (const auto& [g, seqs] : by_gateway) {
    std::string list;
    for (uint64_t s : seqs) list += (list.empty() ? "" : ",") + std::to_string(s);
    std::printf("missing through %s: %zu: %s\n", g.c_str(), seqs.size(), list.c_str());
  }
  if (!unaccounted.empty()) {
    std::printf("note: %zu recorded message(s) within the accounts' span are in no account\n",
                unaccounted.size());
  }
  for (const std::string& w : warnings) std::printf("warning: %s\n", w.c_str());
  if (ok) {
    std::printf(
        "OK: every message the device accounted for is on the ledger, every chain "
        "checked matches (%zu recorded)\n",
        recorded.size());
    return 0;
  }
  for (const std::string& f : failures) std::printf("FAIL: %s\n", f.c_str());
  return kExitDiscrepancy;
}

}  // namespace

CommandGroup AccountAuditCommands() {
  std::vector<std::string> flags(kNodeFlags.begin(), kNodeFlags.end());
  return {"device accounts (docs/ACCOUNTS.md)",
          {{"audit", "DEVICE",
            "compare the device's accounts with its records on the ledger: names every message\n"
            "the device sent that is not there (its seq) and the gateway it went missing\n"
            "through, checks each account's chain head and that accounts link. Exit 3: missing",
            flags, CmdAudit}}};
}

}  // namespace provledger::tools
