// Fuzzes the PBFT core's entry points (consensus/pbft_core.h) with the test fakes
// (tests/consensus/fakes.h: HMAC signatures, fake blocks, no transport: the core's output is
// taken and inspected). Replica 1 of 4 gets a sequence of inputs the fuzzer picks: messages
// of every type signed by any validator (or with a wrong signature), decoded from raw bytes,
// pre-prepares holding fake blocks on a small set of hashes, requests, ticks, state
// transfers, and rounds of the honest others' normal case (so that inputs get deep). The core must
// never crash, and what it applies must stay one chain: heights one after the other, each block on
// the header hash of the one before, never two blocks at one height.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "consensus/pbft_core.h"
#include "consensus/pbft_messages.h"
#include "tests/consensus/fakes.h"
#include "tests/fuzz/fuzz_check.h"

namespace provledger::consensus {
namespace {

using testing::DecodeFakeBlock;
using testing::FakeBlock;
using testing::FakeBlockFactory;
using testing::FakeChecker;
using testing::FakeSigner;

const char kChain[] = "fuzz-chain";

// Across all inputs of a run, printed at exit: shows the chain invariant was exercised.
uint64_t blocks_applied = 0;
uint64_t highest_applied = 0;

struct Harness {
  PbftConfig config;
  FakeChecker checker{4};
  FakeSigner signer{1};
  FakeBlockFactory factory;
  std::unique_ptr<PbftCore> core;
  // Hashes the fuzzer builds on: genesis and every header hash seen so far.
  std::vector<Bytes> hashes{Bytes(32, '\0')};
  uint64_t applied_height = 0;
  Bytes applied_hash = Bytes(32, '\0');

  Harness() {
    config.chain_id = kChain;
    config.n = 4;
    config.self = 1;
    config.checkpoint_interval = 4;
    config.window = 2;
    config.log_size = 8;
    config.view_change_timeout_ticks = 8;
    // Small bounds: cheaper cores per input, and the fuzzer reaches them.
    config.max_pending_requests = 64;
    config.committed_id_memory = 64;
    config.max_buffered_messages = 64;
    core = std::make_unique<PbftCore>(config, &signer, &checker, &factory, 0, Bytes(32, '\0'));
  }

  const Bytes& Hash(FuzzedDataProvider* in) {
    return hashes[in->ConsumeIntegralInRange<size_t>(0, hashes.size() - 1)];
  }

  void Drain() {
    CoreOutput out = core->TakeOutput();
    for (const CommittedBlock& b : out.to_apply) {
      FUZZ_CHECK(b.height == applied_height + 1);
      FakeBlock fb;
      FUZZ_CHECK(DecodeFakeBlock(b.block, &fb).ok());
      FUZZ_CHECK(fb.height == b.height);
      FUZZ_CHECK(fb.prev == applied_hash);
      applied_height = b.height;
      applied_hash = b.header_hash;
      ++blocks_applied;
      highest_applied = std::max(highest_applied, b.height);
    }
    for (auto& [to, msg] : out.to_send) {
      // What the core sends must decode as it was meant.
      ConsensusMsg back;
      provledger::Status decoded = Decode(Encode(msg), &back);
      if (!decoded.ok()) {
        std::fprintf(stderr,
                     "the core sent a %s (view %llu height %llu) that does not decode: %s\n",
                     TypeName(msg.type), static_cast<unsigned long long>(msg.view),
                     static_cast<unsigned long long>(msg.height), decoded.ToString().c_str());
      }
      FUZZ_CHECK(decoded.ok());
      if (!msg.digest.empty() && hashes.size() < 64) hashes.push_back(msg.digest);
    }
  }

  ConsensusMsg Signed(ConsensusMsg m) {
    m.signature = FakeSigner(m.sender).Sign(SigningDigest(kChain, m));
    return m;
  }

  // The honest others' normal case for the next height in the core's view (when another
  // replica is its primary): pre-prepare, prepares, commits, and checkpoints at checkpoint
  // heights, so that inputs reach deep heights and the log moves on between the fuzzer's
  // own messages.
  void HonestRound(FuzzedDataProvider* in) {
    uint64_t view = core->view();
    auto primary = static_cast<uint32_t>(view % 4);
    if (primary == 1 || core->in_view_change()) return;
    uint64_t height = core->committed_height() + 1;
    std::vector<Request> requests = {{Sha256(in->ConsumeBytesAsString(2)), "p"}};
    auto p = factory.Build(height, view, applied_hash, requests);
    if (!p.ok()) return;
    ConsensusMsg pp;
    pp.type = ConsensusMsg::kPrePrepare;
    pp.view = view;
    pp.height = height;
    pp.digest = p->header_hash;
    pp.sender = primary;
    pp.block = p->block;
    core->OnMessage(Signed(pp));
    for (ConsensusMsg::Type t : {ConsensusMsg::kPrepare, ConsensusMsg::kCommit}) {
      for (uint32_t v : {0u, 2u, 3u}) {
        if (t == ConsensusMsg::kPrepare && v == primary) continue;
        ConsensusMsg vote;
        vote.type = t;
        vote.view = view;
        vote.height = height;
        vote.digest = p->header_hash;
        vote.sender = v;
        core->OnMessage(Signed(vote));
      }
    }
    if (height % config.checkpoint_interval == 0) {
      for (uint32_t v : {0u, 2u, 3u}) {
        ConsensusMsg cp;
        cp.type = ConsensusMsg::kCheckpoint;
        cp.height = height;
        cp.digest = p->header_hash;
        cp.sender = v;
        core->OnMessage(Signed(cp));
      }
    }
  }

  ConsensusMsg Message(FuzzedDataProvider* in) {
    ConsensusMsg m;
    m.type = static_cast<ConsensusMsg::Type>(in->ConsumeIntegralInRange<int>(1, 7));
    m.view = in->ConsumeIntegralInRange<uint64_t>(0, 3);
    if (m.type != ConsensusMsg::kViewChange && m.type != ConsensusMsg::kNewView &&
        m.type != ConsensusMsg::kSuspect) {
      m.height = in->ConsumeIntegralInRange<uint64_t>(0, 12);
    }
    if (m.type != ConsensusMsg::kSuspect && m.type != ConsensusMsg::kViewChange &&
        m.type != ConsensusMsg::kNewView) {
      m.digest = Hash(in);
    }
    m.sender = in->ConsumeIntegralInRange<uint32_t>(0, 4);
    if (m.type == ConsensusMsg::kPrePrepare) {
      std::vector<Request> requests;
      size_t count = in->ConsumeIntegralInRange<size_t>(0, 3);
      for (size_t i = 0; i < count; ++i) {
        requests.push_back({Sha256(in->ConsumeBytesAsString(4)), "p"});
      }
      auto p = factory.Build(m.height, m.view, Hash(in), requests);
      if (p.ok()) {
        m.digest = p->header_hash;
        m.block = p->block;
        if (hashes.size() < 64) hashes.push_back(p->header_hash);
      }
    }
    if (m.type == ConsensusMsg::kViewChange) {
      m.checkpoint_digest = Bytes(32, '\0');
    }
    if (m.type == ConsensusMsg::kNewView) {
      size_t count = in->ConsumeIntegralInRange<size_t>(0, 4);
      for (size_t i = 0; i < count; ++i) {
        ConsensusMsg vc;
        vc.type = ConsensusMsg::kViewChange;
        vc.view = m.view;
        vc.sender = in->ConsumeIntegralInRange<uint32_t>(0, 3);
        vc.checkpoint_digest = Bytes(32, '\0');
        vc.signature = FakeSigner(vc.sender).Sign(SigningDigest(kChain, vc));
        m.view_changes.push_back(vc);
      }
    }
    if (in->ConsumeIntegralInRange<int>(0, 15) == 0) {
      m.signature = in->ConsumeBytesAsString(32);  // forged
    } else {
      m.signature = FakeSigner(m.sender).Sign(SigningDigest(kChain, m));
    }
    return m;
  }
};

}  // namespace
}  // namespace provledger::consensus

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] {
    std::fprintf(stderr, "pbft_core: %llu blocks applied over the run, highest height %llu\n",
                 static_cast<unsigned long long>(provledger::consensus::blocks_applied),
                 static_cast<unsigned long long>(provledger::consensus::highest_applied));
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace provledger::consensus;  // NOLINT: one test file
  FuzzedDataProvider in(data, size);
  Harness h;
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 6)) {
      case 0:
      case 1: {
        // What a peer sends reaches the core through Decode (node/peer_transport): only
        // messages that survive it are in the core's input domain.
        ConsensusMsg m;
        if (Decode(Encode(h.Message(&in)), &m).ok()) h.core->OnMessage(m);
        break;
      }
      case 2: {
        ConsensusMsg m;
        std::string raw = in.ConsumeRandomLengthString(300);
        if (Decode(raw, &m).ok()) h.core->OnMessage(m);
        break;
      }
      case 3:
        h.core->OnRequest({provledger::Sha256(in.ConsumeBytesAsString(2)), "payload"});
        break;
      case 4: {
        int ticks = in.ConsumeIntegralInRange<int>(1, 10);
        for (int t = 0; t < ticks; ++t) h.core->OnTick();
        break;
      }
      case 5: {
        // A state transfer the shell did: the next height on a known hash.
        TransferredBlock b;
        b.height = h.applied_height + 1;
        b.header_hash = h.Hash(&in);
        h.core->OnStateTransferred({b});
        h.applied_height = b.height;
        h.applied_hash = b.header_hash;
        break;
      }
      case 6:
        h.HonestRound(&in);
        break;
    }
    h.Drain();
  }
  return 0;
}
