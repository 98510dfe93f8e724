#include "agent/ima_log.h"

#include <string>
#include <utility>

#include "agent/digest.h"

namespace provledger::agent {

namespace {

constexpr uint64_t kMaxPcr = 0xffffffffull;

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t sp = line.find(' ', start);
    if (sp == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
}

bool ParseDecimal(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool ValidAlgorithmName(std::string_view s) {
  if (s.empty() || s.size() > 16) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

void AppendLe32(Bytes* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void AppendField(Bytes* out, ByteView field) {
  AppendLe32(out, static_cast<uint32_t>(field.size()));
  out->append(field.data(), field.size());
}

}  // namespace

bool ImaEntry::violation() const {
  if (template_hash.empty()) return false;
  for (char c : template_hash) {
    if (c != 0) return false;
  }
  return true;
}

std::string ImaEntry::file_hash() const { return hash_algorithm + ":" + HexEncode(file_digest); }

StatusOr<ImaEntry> ParseImaLine(std::string_view line) {
  // "%2d ": a one-digit PCR is printed with a leading space.
  if (line.size() >= 2 && line[0] == ' ' && line[1] != ' ') line.remove_prefix(1);
  const std::vector<std::string_view> f = SplitSpaces(line);
  if (f.size() < 5) {
    return InvalidArgumentError("expected at least 5 fields, got " + std::to_string(f.size()));
  }
  ImaEntry e;
  if (!ParseDecimal(f[0], kMaxPcr, &e.pcr)) return InvalidArgumentError("pcr is not a number");
  StatusOr<Bytes> th = HexDecode(f[1]);
  if (!th.ok() || (th->size() != 20 && th->size() != 32)) {
    return InvalidArgumentError("template hash is not 40 or 64 lowercase hex digits");
  }
  e.template_hash = std::move(th).value();
  e.templ = std::string(f[2]);
  const bool sig_template = e.templ == device_protocol::kTemplateImaSig;
  if (e.templ != device_protocol::kTemplateImaNg && !sig_template &&
      e.templ != device_protocol::kTemplateFile) {
    return InvalidArgumentError("template '" + e.templ.substr(0, 32) +
                                "' is not ima-ng, ima-sig or file");
  }
  const size_t max_fields = sig_template ? 6 : 5;
  if (f.size() > max_fields) {
    return InvalidArgumentError("expected " + std::to_string(max_fields) + " fields for " +
                                e.templ + ", got " + std::to_string(f.size()));
  }
  const size_t colon = f[3].find(':');
  if (colon == std::string_view::npos || !ValidAlgorithmName(f[3].substr(0, colon))) {
    return InvalidArgumentError("file hash is not <algorithm>:<hex>");
  }
  e.hash_algorithm = std::string(f[3].substr(0, colon));
  StatusOr<Bytes> digest = HexDecode(f[3].substr(colon + 1));
  if (!digest.ok() || digest->empty() || digest->size() > 64) {
    return InvalidArgumentError("file hash digest is not lowercase hex of 1 to 64 bytes");
  }
  const size_t known = KnownDigestSize(e.hash_algorithm);
  if (known != 0 && digest->size() != known) {
    return InvalidArgumentError("file hash of " + e.hash_algorithm + " is " +
                                std::to_string(digest->size()) + " bytes, not " +
                                std::to_string(known));
  }
  e.file_digest = std::move(digest).value();
  if (f[4].empty()) return InvalidArgumentError("path is empty");
  if (f[4].size() > device_protocol::kMaxMeasuredPathBytes) {
    return InvalidArgumentError("path is longer than " +
                                std::to_string(device_protocol::kMaxMeasuredPathBytes) + " bytes");
  }
  e.path = std::string(f[4]);
  if (f.size() == 6) {
    StatusOr<Bytes> sig = HexDecode(f[5]);
    if (!sig.ok()) return InvalidArgumentError("signature is not lowercase hex");
    e.sig = std::move(sig).value();
  }
  return e;
}

Bytes TemplateData(const ImaEntry& entry) {
  Bytes d_ng = entry.hash_algorithm;
  d_ng.push_back(':');
  d_ng.push_back('\0');
  d_ng += entry.file_digest;
  Bytes n_ng = entry.path;
  n_ng.push_back('\0');
  Bytes out;
  AppendField(&out, d_ng);
  AppendField(&out, n_ng);
  if (entry.templ == device_protocol::kTemplateImaSig) AppendField(&out, entry.sig);
  return out;
}

Status CheckTemplateHash(const ImaEntry& entry) {
  if (entry.violation()) {
    return FailedPreconditionError("violation entry: the kernel stored a zero template hash");
  }
  const char* alg = entry.template_hash.size() == 20 ? "sha1" : "sha256";
  PL_ASSIGN_OR_RETURN(Bytes computed, Digest(alg, TemplateData(entry)));
  if (computed != entry.template_hash) {
    return UnauthenticatedError("template hash mismatch (listed " + ShortHex(entry.template_hash) +
                                ", computed " + ShortHex(computed) + ")");
  }
  return Status();
}

device_protocol::MeasurementEntry ToMeasurementEntry(const ImaEntry& entry) {
  device_protocol::MeasurementEntry m;
  m.pcr = entry.pcr;
  m.templ = entry.templ;
  m.hash = entry.file_hash();
  m.path = entry.path;
  return m;
}

std::string FormatImaLine(const ImaEntry& entry) {
  std::string pcr = std::to_string(entry.pcr);
  if (pcr.size() == 1) pcr = " " + pcr;
  std::string line = pcr + " " + HexEncode(entry.template_hash) + " " + entry.templ + " " +
                     entry.file_hash() + " " + entry.path;
  if (entry.templ == device_protocol::kTemplateImaSig) line += " " + HexEncode(entry.sig);
  return line;
}

ImaChunk ParseImaList(std::string_view text, uint64_t first_line, size_t max_entries) {
  ImaChunk out;
  size_t pos = 0;
  while (pos < text.size() && out.entries.size() < max_entries) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;  // still being written
    std::string_view line = text.substr(pos, nl - pos);
    const uint64_t number = first_line + out.lines;
    pos = nl + 1;
    out.consumed_bytes = pos;
    ++out.lines;
    if (line.empty()) continue;
    StatusOr<ImaEntry> e = ParseImaLine(line);
    if (!e.ok()) {
      out.skipped.push_back(LineIssue{number, e.status().message()});
      continue;
    }
    if (e->violation()) {
      out.violations.push_back(number);
      out.entries.push_back(std::move(e).value());
      out.entry_ends.emplace_back(out.consumed_bytes, out.lines);
      continue;
    }
    Status check = CheckTemplateHash(*e);
    if (!check.ok()) {
      out.skipped.push_back(LineIssue{number, check.message()});
      continue;
    }
    out.entries.push_back(std::move(e).value());
    out.entry_ends.emplace_back(out.consumed_bytes, out.lines);
  }
  return out;
}

}  // namespace provledger::agent
