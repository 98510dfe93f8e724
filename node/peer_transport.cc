#include "node/peer_transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "client/channel_options.h"
#include "client/transport_security.h"
#include "common/log.h"

namespace provledger::node {

namespace v1 = provledger::v1;

PeerTransport::PeerTransport(const ledger::Genesis* genesis, uint32_t self, size_t max_queue)
    : genesis_(genesis), self_(self), max_queue_(max_queue) {
  const grpc::ChannelArguments args = client::LedgerChannelArguments(256 * 1024 * 1024);
  for (uint32_t i = 0; i < genesis_->n(); ++i) {
    if (i == self_) {
      peers_.push_back(nullptr);
      continue;
    }
    auto p = std::make_unique<Peer>();
    p->index = i;
    p->address = genesis_->validators[i].address;
    auto ch = grpc::CreateCustomChannel(p->address, client::ChannelCredentials(), args);
    p->consensus = v1::Consensus::NewStub(ch);
    p->ledger = v1::Ledger::NewStub(ch);
    Peer* raw = p.get();
    p->worker = std::make_unique<Worker>("peer", [this, raw](Worker& w) { Loop(raw, w); });
    p->worker->set_on_stop([raw] { raw->cv.notify_all(); });
    peers_.push_back(std::move(p));
  }
}

PeerTransport::~PeerTransport() {
  for (auto& p : peers_) {
    if (p) p->worker.reset();
  }
}

void PeerTransport::Send(uint32_t to, const Bytes& msg) {
  if (to >= peers_.size()) return;  // kept from turning into kToAll as an int
  SendAll({{static_cast<int>(to), msg}});
}

void PeerTransport::Broadcast(const Bytes& msg) { SendAll({{kToAll, msg}}); }

void PeerTransport::SendAll(const std::vector<std::pair<int, Bytes>>& msgs) {
  for (auto& p : peers_) {
    if (!p) continue;
    bool any = false;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      for (const auto& [to, msg] : msgs) {
        if (to != kToAll && static_cast<uint32_t>(to) != p->index) continue;
        p->messages.push_back(msg);
        if (p->messages.size() > max_queue_) p->messages.pop_front();
        any = true;
      }
    }
    if (any) p->cv.notify_one();
  }
}

void PeerTransport::BroadcastRequest(const v1::ConsensusRequest& request) {
  for (auto& p : peers_) {
    if (!p) continue;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->requests.push_back(request);
      if (p->requests.size() > max_queue_) p->requests.pop_front();
    }
    p->cv.notify_one();
  }
}

v1::Ledger::Stub* PeerTransport::ledger_stub(uint32_t i) const {
  return i < peers_.size() && peers_[i] ? peers_[i]->ledger.get() : nullptr;
}

std::vector<v1::Ledger::Stub*> PeerTransport::ledger_stubs() const {
  std::vector<v1::Ledger::Stub*> stubs;
  for (uint32_t i = 0; i < peers_.size(); ++i) stubs.push_back(ledger_stub(i));
  return stubs;
}

void PeerTransport::Loop(Peer* p, Worker& w) {
  uint64_t failures = 0;
  while (!w.stopping()) {
    v1::Delivery d;
    d.set_sender(self_);
    {
      std::unique_lock<std::mutex> lock(p->mu);
      p->cv.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return w.stopping() || !p->messages.empty() || !p->requests.empty(); });
      while (!p->messages.empty() && d.messages_size() < 512) {
        d.add_messages(std::move(p->messages.front()));
        p->messages.pop_front();
      }
      while (!p->requests.empty() && d.requests_size() < 64) {
        *d.add_requests() = std::move(p->requests.front());
        p->requests.pop_front();
      }
    }
    if (d.messages_size() == 0 && d.requests_size() == 0) continue;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::DeliveryAck ack;
    grpc::Status s = p->consensus->Deliver(&ctx, d, &ack);
    if (s.ok()) {
      if (failures > 0) LogInfo("peer_reachable").Kv("peer", genesis_->validators[p->index].id);
      failures = 0;
      continue;
    }
    if (failures++ == 0) {
      LogWarn("peer_unreachable")
          .Kv("peer", genesis_->validators[p->index].id)
          .Kv("address", p->address)
          .Kv("err", s.error_message());
    }
    const uint32_t backoff = std::min<uint64_t>(1000, 50 * failures);
    w.Sleep(backoff);
  }
}

}  // namespace provledger::node
