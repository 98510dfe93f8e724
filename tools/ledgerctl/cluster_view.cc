#include "tools/ledgerctl/cluster_view.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace provledger::tools {
namespace {

std::string U(uint64_t v) { return std::to_string(v); }

// The state column: why an answering node may still need a look.
std::string StateOf(const NodeRow& r) {
  if (!r.up) return "unreachable";
  if (r.status.alone_in_view()) return "alone";
  if (r.status.view_changing()) return "vc";
  return "up";
}

std::string AgeOf(const NodeRow& r, uint64_t now_ms) {
  if (!r.head_timestamp) return "-";
  // The proposer's clock may be ahead of ours: a negative age is shown as 0.
  return FormatAge(now_ms > *r.head_timestamp ? now_ms - *r.head_timestamp : 0);
}

std::string ShortHash(const Bytes& h) { return HexEncode(h).substr(0, 16); }

}  // namespace

std::string NodeRow::id() const {
  if (up && !status.node_id().empty()) return status.node_id();
  if (!expected_id.empty()) return expected_id;
  return "?";
}

ClusterSummary Summarize(const std::vector<NodeRow>& rows) {
  ClusterSummary s;
  bool any = false;
  for (const NodeRow& r : rows) {
    if (!r.up) {
      ++s.unreachable;
      continue;
    }
    s.max_height = std::max(s.max_height, r.status.height());
    s.common_height = any ? std::min(s.common_height, r.status.height()) : r.status.height();
    any = true;
  }
  std::optional<Bytes> first;
  for (const NodeRow& r : rows) {
    if (!r.up || !r.common_hash) continue;
    if (!first) {
      first = r.common_hash;
    } else if (*first != *r.common_hash) {
      s.fork = true;
    }
  }
  return s;
}

std::string FormatAge(uint64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%llu ms", static_cast<unsigned long long>(ms));
  } else if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else {
    const unsigned long long s = ms / 1000;
    if (s < 3600) {
      std::snprintf(buf, sizeof buf, "%llum%02llus", s / 60, s % 60);
    } else if (s < 86400) {
      std::snprintf(buf, sizeof buf, "%lluh%02llum", s / 3600, (s % 3600) / 60);
    } else {
      std::snprintf(buf, sizeof buf, "%llud%02lluh", s / 86400, (s % 86400) / 3600);
    }
  }
  return buf;
}

std::string FormatStatusTable(const std::vector<NodeRow>& rows, const ClusterSummary& sum,
                              uint64_t now_ms) {
  std::vector<std::vector<std::string>> cells;
  cells.push_back({"NODE", "ADDRESS", "STATE", "HEIGHT", "LAG", "VIEW", "ROLE", "MODE", "EPOCH",
                   "PRIMARY", "LAST COMMIT"});
  for (const NodeRow& r : rows) {
    if (!r.up) {
      cells.push_back({r.id(), r.address, StateOf(r), "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    const auto& s = r.status;
    cells.push_back({r.id(), r.address, StateOf(r), U(s.height()), U(sum.max_height - s.height()),
                     U(s.view()), s.role(), s.mode(), U(s.epoch()), s.primary(), AgeOf(r, now_ms)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  for (const NodeRow& r : rows) {
    if (!r.up) out += "unreachable: " + r.id() + " at " + r.address + ": " + r.error + "\n";
  }
  const size_t answered = rows.size() - sum.unreachable;
  if (answered == 0) return out + "no node answered\n";
  if (sum.fork) {
    out += "FORK: the nodes hold different blocks at height " + U(sum.common_height) + ":\n";
    std::map<Bytes, std::string> by_hash;
    for (const NodeRow& r : rows) {
      if (r.up && r.common_hash) {
        std::string& ids = by_hash[*r.common_hash];
        // Two nodes may carry one id (one of them on another chain): name the address too.
        ids += (ids.empty() ? "" : ", ") + r.id() + "@" + r.address;
      }
    }
    for (const auto& [hash, ids] : by_hash) out += "  " + ShortHash(hash) + "  " + ids + "\n";
  } else {
    size_t compared = 0;
    for (const NodeRow& r : rows) compared += (r.up && r.common_hash) ? 1 : 0;
    out += "highest height " + U(sum.max_height) + "; at height " + U(sum.common_height) + " " +
           U(compared) +
           " node(s) compared: " + (compared >= 2 ? "same block" : "nothing to compare") + "\n";
  }
  for (const NodeRow& r : rows) {
    if (r.up && !r.common_note.empty()) {
      out += "not compared: " + r.id() + ": " + r.common_note + "\n";
    }
  }
  return out;
}

JsonValue StatusTableJson(const std::vector<NodeRow>& rows, const ClusterSummary& sum,
                          uint64_t now_ms) {
  JsonValue nodes = JsonValue::Array();
  for (const NodeRow& r : rows) {
    JsonValue o = JsonValue::Object();
    o.Set("id", JsonValue::String(r.id()));
    o.Set("address", JsonValue::String(r.address));
    o.Set("up", JsonValue::Bool(r.up));
    o.Set("state", JsonValue::String(StateOf(r)));
    if (!r.up) {
      o.Set("error", JsonValue::String(r.error));
    } else {
      const auto& s = r.status;
      o.Set("height", JsonValue::Int(s.height()));
      o.Set("lag", JsonValue::Int(sum.max_height - s.height()));
      o.Set("head_hash", JsonValue::String(HexEncode(s.head_hash())));
      o.Set("view", JsonValue::Int(s.view()));
      o.Set("role", JsonValue::String(s.role()));
      o.Set("mode", JsonValue::String(s.mode()));
      o.Set("epoch", JsonValue::Int(s.epoch()));
      o.Set("primary", JsonValue::String(s.primary()));
      o.Set("records", JsonValue::Int(s.records()));
      o.Set("view_changing", JsonValue::Bool(s.view_changing()));
      o.Set("alone_in_view", JsonValue::Bool(s.alone_in_view()));
      if (r.head_timestamp) {
        o.Set("last_commit_age_ms",
              JsonValue::Int(now_ms > *r.head_timestamp ? now_ms - *r.head_timestamp : 0));
      }
      if (r.common_hash) o.Set("common_hash", JsonValue::String(HexEncode(*r.common_hash)));
      if (!r.common_note.empty()) o.Set("not_compared", JsonValue::String(r.common_note));
    }
    nodes.Push(std::move(o));
  }
  JsonValue out = JsonValue::Object();
  out.Set("nodes", std::move(nodes));
  out.Set("max_height", JsonValue::Int(sum.max_height));
  out.Set("common_height", JsonValue::Int(sum.common_height));
  out.Set("unreachable", JsonValue::Int(sum.unreachable));
  out.Set("fork", JsonValue::Bool(sum.fork));
  return out;
}

void RateWindow::Add(uint64_t now_ms, uint64_t height, uint64_t records) {
  if (!samples_.empty() && (height < samples_.back().height || records < samples_.back().records ||
                            now_ms < samples_.back().ms)) {
    samples_.clear();
  }
  samples_.push_back({now_ms, height, records});
  // Keep one sample at or beyond the window's start so the span covers the whole window.
  while (samples_.size() >= 2 && samples_[1].ms + window_ms_ <= now_ms) samples_.pop_front();
}

std::optional<RateWindow::Rate> RateWindow::Get() const {
  if (samples_.size() < 2) return std::nullopt;
  const Sample& a = samples_.front();
  const Sample& b = samples_.back();
  if (b.ms <= a.ms) return std::nullopt;
  Rate r;
  r.seconds = static_cast<double>(b.ms - a.ms) / 1000.0;
  r.blocks_per_s = static_cast<double>(b.height - a.height) / r.seconds;
  r.records_per_s = static_cast<double>(b.records - a.records) / r.seconds;
  return r;
}

std::string FormatRateLine(const RateWindow::Rate& r, uint64_t height) {
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "rate %.1f blocks/s, %.1f records/s over the last %.1f s (height %llu)",
      r.blocks_per_s, r.records_per_s, r.seconds, static_cast<unsigned long long>(height));
  return buf;
}

std::string FormatBlockLine(uint64_t height, uint64_t records, const std::string& proposer,
                            uint64_t view, uint64_t age_ms) {
  return "height " + U(height) + "  records " + U(records) + "  proposer " + proposer + "  view " +
         U(view) + "  age " + FormatAge(age_ms);
}

}  // namespace provledger::tools
