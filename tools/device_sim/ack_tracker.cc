#include "tools/device_sim/ack_tracker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "common/json.h"

namespace provledger::device_sim {

namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", std::isfinite(v) ? v : 0.0);
  return buf;
}

std::string Str(const std::string& s) { return WriteJson(JsonValue::String(s)); }

std::string CodeMap(const std::map<std::string, uint64_t>& m) {
  std::string out = "{";
  for (const auto& [code, n] : m) {
    if (out.size() > 1) out += ",";
    out += Str(code) + ":" + std::to_string(n);
  }
  return out + "}";
}

std::string CodeList(const std::map<std::string, uint64_t>& m) {
  std::string out;
  for (const auto& [code, n] : m) {
    out += (out.empty() ? "" : ", ") + code + "=" + std::to_string(n);
  }
  return out;
}

}  // namespace

LatencyPercentiles ComputePercentiles(std::vector<double> samples) {
  LatencyPercentiles p;
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::min(samples.size(), std::max<size_t>(k, 1)) - 1];
  };
  p.p50 = rank(0.50);
  p.p95 = rank(0.95);
  p.p99 = rank(0.99);
  p.max = samples.back();
  return p;
}

void AckTracker::OnPublished(const std::string& device, uint64_t seq, uint64_t index, double now_ms,
                             std::optional<uint64_t> resend_of) {
  DeviceBook& book = books_[device];
  Entry e;
  e.index = index;
  e.first_sent_ms = now_ms;
  e.sent_ms = now_ms;
  e.connections = connections_;
  if (resend_of.has_value()) {
    auto old = book.readings.find(*resend_of);
    if (old != book.readings.end() && old->second.state == State::kResending) {
      e.first_sent_ms = old->second.first_sent_ms;
      e.resends = old->second.resends + 1;
      old->second.state = State::kSuperseded;
      --outstanding_;
    }
    ++resent_;
  }
  auto [it, inserted] = book.readings.emplace(seq, e);
  if (!inserted) return;  // one seq is never published twice as a reading
  ++outstanding_;
  ++published_;
  if (!first_publish_ms_) first_publish_ms_ = now_ms;
  last_publish_ms_ = now_ms;
}

void AckTracker::OnReplayCopyPublished(const std::string& device, uint64_t seq, double now_ms) {
  auto [it, inserted] = books_[device].copies.emplace(seq, Copy{});
  if (!inserted) return;
  ++outstanding_;
  ++replay_sent_;
  if (!first_publish_ms_) first_publish_ms_ = now_ms;
  last_publish_ms_ = now_ms;
}

void AckTracker::OnNotSent(const std::string& device, uint64_t n, const std::string& code) {
  books_[device];  // the device counts even with nothing published
  not_sent_ += n;
  if (code.empty()) {
    lost_ += n;
  } else {
    errors_[code] += n;
    errors_total_ += n;
  }
}

void AckTracker::Abandon(const std::string& device, uint64_t seq, const std::string& code) {
  auto& readings = books_[device].readings;
  auto it = readings.find(seq);
  if (it == readings.end()) return;
  if (it->second.state != State::kResending && it->second.state != State::kPending) return;
  Finish(&it->second, code.empty() ? State::kLost : State::kError, code);
}

bool AckTracker::Accepted(const std::string& device, uint64_t seq) const {
  auto b = books_.find(device);
  if (b == books_.end()) return false;
  auto it = b->second.readings.find(seq);
  return it != b->second.readings.end() &&
         (it->second.state == State::kRecorded || it->second.state == State::kSkipped);
}

void AckTracker::Finish(Entry* e, State state, const std::string& code) {
  if (e->state == State::kPending || e->state == State::kResending) --outstanding_;
  e->state = state;
  e->code = code;
  switch (state) {
    case State::kRecorded:
      ++acked_recorded_;
      break;
    case State::kSkipped:
      ++acked_skipped_;
      break;
    case State::kError:
      ++errors_[code];
      ++errors_total_;
      break;
    default:
      break;
  }
}

bool AckTracker::AnswerCopy(DeviceBook* book, uint64_t seq, const std::string& outcome) {
  auto it = book->copies.find(seq);
  if (it == book->copies.end() || it->second.answered) return false;
  it->second.answered = true;
  --outstanding_;
  if (outcome == "replay") {
    ++replay_answered_;
  } else {
    ++replay_other_[outcome];
  }
  return true;
}

uint64_t AckTracker::OnAck(const std::string& device, const Ack& ack, double now_ms) {
  DeviceBook& book = books_[device];
  const std::vector<uint64_t> seqs = ack.recorded ? ack.seqs : std::vector<uint64_t>{ack.seq};
  uint64_t answered = 0;
  bool own_record = false;
  for (uint64_t s : seqs) {
    auto it = book.readings.find(s);
    if (it != book.readings.end() && it->second.state == State::kPending) {
      if (it->second.replay_heard) ++replay_before_ack_;
      Finish(&it->second, ack.recorded ? State::kRecorded : State::kSkipped, "");
      latencies_.push_back(now_ms - it->second.first_sent_ms);
      ++answered;
      if (s == ack.seq) own_record = true;
    } else if (AnswerCopy(&book, s, "acked")) {
      ++answered;
    }
  }
  if (answered == 0) {
    ++unmatched_;
    return 0;
  }
  last_ack_ms_ = now_ms;
  if (ack.recorded && own_record) {
    RecordRef ref{device, ack.seq, ack.record, ack.height};
    if (!last_record_ || ref.height >= last_record_->height) last_record_ = ref;
    records_.push_back(std::move(ref));
    while (records_.size() > options_.list_records) records_.pop_front();
  }
  return answered;
}

void AckTracker::OnAckShape(const std::string& device, const std::string& item, bool datas,
                            const Ack& ack) {
  if (!ack.recorded) return;
  ItemAcks& a = item_acks_[{device, item}];
  ++a.per_height[ack.height];
  if (ack.height < a.last_height) ++a.out_of_order;
  a.last_height = std::max(a.last_height, ack.height);
  if (datas) a.datas_heights.push_back(ack.height);
}

ErrorOutcome AckTracker::OnError(const std::string& device, const ErrorAnswer& error,
                                 double now_ms) {
  DeviceBook& book = books_[device];
  ErrorOutcome out;
  std::optional<uint64_t> seq = error.seq;
  if (!seq) {  // e.g. `malformed` for an unparsable pl-seq: the oldest one waiting
    for (const auto& [s, e] : book.readings) {
      if (e.state == State::kPending) {
        seq = s;
        break;
      }
    }
    for (const auto& [s, c] : book.copies) {
      if (!seq && !c.answered) seq = s;
    }
  }
  if (!seq) {
    ++unmatched_;
    return out;
  }
  out.seq = *seq;
  if (error.code == "replay" && AnswerCopy(&book, *seq, "replay")) {
    out.action = ErrorOutcome::Action::kReplayCopy;
    last_ack_ms_ = now_ms;
    return out;
  }
  auto it = book.readings.find(*seq);
  if (it != book.readings.end() && it->second.state == State::kPending) {
    Entry& e = it->second;
    last_ack_ms_ = now_ms;
    if (error.code == "replay" && e.connections < connections_) {
      // Possibly a copy the client sent again after reconnecting, while the first copy's
      // ack is still on its way: held (outstanding) until that ack or the end.
      e.replay_heard = true;
      out.action = ErrorOutcome::Action::kReplayCopy;
      return out;
    }
    if (options_.resend_codes.count(error.code) > 0 && e.resends < options_.max_resends) {
      e.state = State::kResending;  // still outstanding until resent or given up
      out.action = ErrorOutcome::Action::kResend;
      out.index = e.index;
      out.sent_ms = e.sent_ms;
      return out;
    }
    Finish(&e, State::kError, error.code);
    out.action = ErrorOutcome::Action::kFinal;
    return out;
  }
  if (AnswerCopy(&book, *seq, error.code)) {
    out.action = ErrorOutcome::Action::kFinal;
    return out;
  }
  ++unmatched_;
  return out;
}

Summary AckTracker::Summarize(uint64_t devices, const std::string& expect_error) const {
  Summary s;
  s.devices = devices;
  s.published = published_;
  s.resent = resent_;
  s.acked_recorded = acked_recorded_;
  s.acked_skipped = acked_skipped_;
  s.errors = errors_;
  s.not_sent = not_sent_;
  s.readings = not_sent_;
  s.unanswered = lost_;
  for (const auto& [key, a] : item_acks_) {
    if (a.per_height.empty()) continue;
    ++s.ack_items;
    for (const auto& [h, n] : a.per_height) {
      s.acks += n;
      s.acks_same_block += n - 1;
    }
    s.acks_out_of_order += a.out_of_order;
    s.datas += a.datas_heights.size();
    for (uint64_t h : a.datas_heights) {
      if (h != a.per_height.begin()->first) ++s.datas_not_first;
    }
    if (a.datas_heights.empty()) ++s.items_without_datas;
  }
  for (const auto& [device, book] : books_) {
    for (const auto& [seq, e] : book.readings) {
      if (e.state == State::kSuperseded) continue;
      ++s.readings;
      if (e.state == State::kPending && e.replay_heard) {
        ++s.errors["replay"];  // only `replay` came: the first copy's ack never did
        continue;
      }
      if (e.state == State::kPending || e.state == State::kResending || e.state == State::kLost) {
        ++s.unanswered;
        if (e.state != State::kLost) s.unanswered_seqs[device].push_back(seq);
      }
    }
    for (const auto& [seq, c] : book.copies) {
      if (!c.answered) ++s.replay_unanswered;
    }
  }
  s.replay_sent = replay_sent_;
  s.replay_answered = replay_answered_;
  s.replay_other = replay_other_;
  s.replay_before_ack = replay_before_ack_;
  s.unmatched_answers = unmatched_;
  if (first_publish_ms_) {
    const double pub_s = std::max(*last_publish_ms_ - *first_publish_ms_, 1.0) / 1000.0;
    s.publish_rate = static_cast<double>(published_ + replay_sent_) / pub_s;
    if (last_ack_ms_) {
      const double ack_s = std::max(*last_ack_ms_ - *first_publish_ms_, 1.0) / 1000.0;
      s.ack_rate = static_cast<double>(acked_recorded_ + acked_skipped_) / ack_s;
    }
  }
  s.latency_ms = ComputePercentiles(latencies_);
  s.last_record = last_record_;
  s.records.assign(records_.begin(), records_.end());

  std::vector<std::string> problems;
  const uint64_t acked = s.acked_recorded + s.acked_skipped;
  if (s.readings == 0 && s.replay_sent == 0) problems.push_back("nothing was published");
  if (s.unanswered > 0) {
    problems.push_back(std::to_string(s.unanswered) + " of " + std::to_string(s.readings) +
                       " readings unanswered");
  }
  if (expect_error.empty()) {
    if (!s.errors.empty()) problems.push_back("errors came back: " + CodeList(s.errors));
  } else {
    if (acked > 0) {
      problems.push_back(std::to_string(acked) + " readings acknowledged, expected " +
                         expect_error);
    }
    std::map<std::string, uint64_t> other = s.errors;
    other.erase(expect_error);
    if (!other.empty())
      problems.push_back("other errors than " + expect_error + ": " + CodeList(other));
  }
  if (s.replay_unanswered > 0) {
    problems.push_back(std::to_string(s.replay_unanswered) + " replay copies unanswered");
  }
  if (!s.replay_other.empty()) {
    problems.push_back("replay copies answered other than replay: " + CodeList(s.replay_other));
  }
  s.ok = problems.empty();
  for (const std::string& p : problems) s.verdict += (s.verdict.empty() ? "" : "; ") + p;
  return s;
}

std::string SummaryJson(const Summary& s) {
  std::string o = "{\"devices\":" + std::to_string(s.devices);
  o += ",\"readings\":" + std::to_string(s.readings);
  o += ",\"published\":" + std::to_string(s.published);
  o += ",\"acked_recorded\":" + std::to_string(s.acked_recorded);
  o += ",\"acked_skipped\":" + std::to_string(s.acked_skipped);
  o += ",\"errors\":" + CodeMap(s.errors);
  o += ",\"unanswered\":" + std::to_string(s.unanswered);
  if (s.accounts_sent > 0) {
    o += ",\"accounts\":{\"sent\":" + std::to_string(s.accounts_sent) +
         ",\"recorded\":" + std::to_string(s.accounts_recorded) +
         ",\"refused\":" + std::to_string(s.accounts_refused) + "}";
  }
  o += ",\"publish_rate\":" + Num(s.publish_rate);
  o += ",\"ack_rate\":" + Num(s.ack_rate);
  o += ",\"latency_ms\":{\"p50\":" + Num(s.latency_ms.p50) + ",\"p95\":" + Num(s.latency_ms.p95) +
       ",\"p99\":" + Num(s.latency_ms.p99) + ",\"max\":" + Num(s.latency_ms.max) + "}";
  o += ",\"last_record\":" +
       (s.last_record ? Str(HexEncode(s.last_record->record)) : std::string("null"));
  o += ",\"last_height\":" + std::to_string(s.last_record ? s.last_record->height : 0);
  o += ",\"records\":[";
  for (size_t i = 0; i < s.records.size(); ++i) {
    const RecordRef& r = s.records[i];
    o += (i ? "," : "") + std::string("{\"device\":") + Str(r.device) +
         ",\"seq\":" + std::to_string(r.seq) + ",\"record\":" + Str(HexEncode(r.record)) +
         ",\"height\":" + std::to_string(r.height) + "}";
  }
  o += "],\"resent\":" + std::to_string(s.resent);
  o += ",\"not_sent\":" + std::to_string(s.not_sent);
  o += ",\"replay\":{\"sent\":" + std::to_string(s.replay_sent) +
       ",\"answered_replay\":" + std::to_string(s.replay_answered) +
       ",\"other\":" + CodeMap(s.replay_other) +
       ",\"unanswered\":" + std::to_string(s.replay_unanswered) +
       ",\"before_ack\":" + std::to_string(s.replay_before_ack) + "}";
  o += ",\"unmatched\":" + std::to_string(s.unmatched_answers);
  o += ",\"ack_shape\":{\"items\":" + std::to_string(s.ack_items) +
       ",\"acks\":" + std::to_string(s.acks) +
       ",\"same_block\":" + std::to_string(s.acks_same_block) +
       ",\"out_of_order\":" + std::to_string(s.acks_out_of_order) +
       ",\"datas\":" + std::to_string(s.datas) +
       ",\"datas_not_first\":" + std::to_string(s.datas_not_first) +
       ",\"items_without_datas\":" + std::to_string(s.items_without_datas) + "}";
  o += ",\"unanswered_seqs\":{";
  bool first = true;
  for (const auto& [device, seqs] : s.unanswered_seqs) {
    o += (first ? "" : ",") + Str(device) + ":[";
    for (size_t i = 0; i < seqs.size(); ++i) o += (i ? "," : "") + std::to_string(seqs[i]);
    o += "]";
    first = false;
  }
  o += "}";
  o += std::string(",\"ok\":") + (s.ok ? "true" : "false");
  o += ",\"verdict\":" + Str(s.verdict) + "}";
  return o;
}

}  // namespace provledger::device_sim
