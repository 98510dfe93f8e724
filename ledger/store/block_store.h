// BlockStore: the chain on disk, in RocksDB.
//
// Column families (format version 2, in meta "format_version"): headers, bodies and
// certificates by height; a record index (id -> height, position); a device index
// (device, seq -> id) and a time index (device, ts, id -> item, seq, height); payloads by
// (height, position) (RocksDB blob files, so large payloads stay out of the LSM); the registry
// state; node metadata. Three index rows per device record: the record index and the device
// index answer lookups and duplicate checks, the time index History. One block with all its
// index entries, its certificate and its registry changes is one WriteBatch written with a
// synced WAL: a killed process loses nothing Append returned OK for, and never shows half a
// block. Format 1 (payloads by record id, a device_item index read by nothing) is migrated to
// 2 at Open (docs/OPERATIONS.md).
//
// A write that fails (disk full, I/O error) is final for this BlockStore: every later write
// returns the same error without reaching RocksDB (write_status()), and closing skips the
// flush, so the folder is left as the last successful synced write made it (reopen replays
// the WAL). Writing again takes a new BlockStore, typically after the disk is fixed.
//
// Thread rules: reads are safe from any thread; writes (Append, RepairBlock, PutMeta*) must be
// made from one thread at a time (the consensus thread is the sole writer). The head and the
// write status are published under a mutex.
#ifndef PROVLEDGER_LEDGER_STORE_BLOCK_STORE_H_
#define PROVLEDGER_LEDGER_STORE_BLOCK_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "ledger/block_header.h"
#include "ledger/chain_check.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/state_digest.h"
#include "ledger/validator_set.h"
#include "proto/ledger.pb.h"

namespace rocksdb {
class DB;
class Snapshot;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace provledger::ledger {

struct StoreOptions {
  std::string path;
  // Payloads at or above this size go to blob files instead of the LSM tree.
  uint64_t min_blob_size = 4096;
  // Sync the WAL on every block (durability of acknowledged blocks). Only benchmarks of the
  // unsynced path turn this off.
  bool sync = true;
  // Open a store whose head block fails its checks (the head record in the metadata still
  // names its height and hash) instead of refusing it; damaged_head() then names the height,
  // for a caller that can fetch the block again (RepairBlock). Off: Open returns kDataLoss.
  bool open_damaged_head = false;
  // A light store (a follower's --mode=light): Prune may drop old block bodies, and payload
  // blob files are garbage-collected at compaction so that pruned payloads free their disk.
  bool light = false;
  // Checkpoint state (docs/CATCHUP.md): after appending a block whose height is a multiple of
  // this, the store pins its state as of that block (a RocksDB snapshot, the latest two
  // kept) for ReadState. 0: never.
  uint64_t state_interval = 0;
  Status Validate() const;
};

// Where a record sits on the chain.
struct RecordLocation {
  uint64_t height = 0;
  uint32_t index = 0;
};

// A block as read back, checked against its own header (root, count, hash, digest).
struct StoredBlock {
  BlockHeader header;
  Bytes header_bytes;
  Bytes header_hash;
  std::vector<Bytes> records;
  std::vector<std::optional<Bytes>> payloads;  // filled only when asked for
  provledger::v1::CommitCertificate certificate;
};

// What the store's indexes take of a record: ledger/record.h's RecordFields from_device,
// device, item, seq and ts (the others left default when from_device is false).
struct IndexFields {
  bool from_device = false;
  std::string device;
  std::string item;
  uint64_t seq = 0;
  uint64_t ts = 0;
  bool operator==(const IndexFields& o) const {
    return from_device == o.from_device && device == o.device && item == o.item && seq == o.seq &&
           ts == o.ts;
  }
};
// The IndexFields of `f`.
IndexFields IndexFieldsOf(RecordFields f);

// A block to append: header bytes, records in block order, payloads (nullopt where none is
// kept), its certificate, and registry key/value changes computed by RegistryState.
struct BlockToAppend {
  Bytes header_bytes;
  std::vector<Bytes> records;
  std::vector<std::optional<Bytes>> payloads;
  provledger::v1::CommitCertificate certificate;
  std::vector<std::pair<Bytes, Bytes>> registry_puts;
  // Empty, or one per record: IndexFieldsOf(DecodeRecordFields(records[i])) for a caller that
  // decoded the records already (the consensus thread validated each), so that the store
  // does not decode them again. The store trusts them: it checks their count, and the
  // records' ids against the header's root as always, but not that they are the records'
  // own (a build without NDEBUG does, and refuses the block with kInternal). Empty: the store
  // decodes the records (refusing ones that do not decode).
  std::vector<IndexFields> fields;
};

// The running digest of the index tables (ledger/state_digest.h's index(h)) as of `height`,
// and how many index rows (tables 2..4) blocks 1..height added.
struct IndexChainHead {
  uint64_t height = 0;
  Bytes digest;
  uint64_t rows = 0;
};

// One page of a checkpoint state (ReadState).
struct StateChunk {
  std::vector<StateRow> rows;  // ascending (table, key)
  Bytes next;                  // cursor to ask with next; empty when the state is complete
};

struct HistoryItem {
  Bytes record_id;
  std::string item;
  uint64_t seq = 0;
  uint64_t ts = 0;
  uint64_t height = 0;
};

// What one Prune did: block bodies [from, to] dropped, and the store's data files on disk
// before and after (bytes of tables, blob files, WAL and manifest under StoreOptions.path;
// RocksDB's diagnostic LOG and OPTIONS files are left out).
struct PruneResult {
  uint64_t from = 0;
  uint64_t to = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t index_entries_deleted = 0;  // per-record index entries of the pruned blocks
};

// Which per-record index entries of pruned blocks Prune drops beside their bodies.
enum class PrunedIndexes {
  kKeep,     // every index (lookups and duplicate checks answered locally)
  kHistory,  // time_index (a light validator: record_index and device_seq, its duplicate
             // checks, stay)
  kAll,      // all three (a light follower: it never checks duplicates; lookups of pruned
             // records go to full nodes, checked against its own headers)
};

class BlockStore {
 public:
  // Opens or creates the store at options.path for `chain_id`. An existing store must hold
  // the same chain id (kFailedPrecondition otherwise) and its head must check out
  // (kDataLoss naming the height otherwise, unless options.open_damaged_head). A store of
  // format 1 is migrated to the current format first (migrated_from() then says 1); one of a
  // format newer than this build's is refused with kUnimplemented, unchanged.
  static StatusOr<std::unique_ptr<BlockStore>> Open(const StoreOptions& options,
                                                    const std::string& chain_id);
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // Height of the last block (0 when empty) and its header hash (32 zero bytes when empty).
  uint64_t height() const;
  Bytes head_hash() const;
  uint64_t record_count() const;
  // RocksDB's live table (SST) and blob file bytes over every column family (its
  // rocksdb.live-sst-files-size and live-blob-file-size properties; 0 where unknown), for
  // metrics. Any thread.
  struct StorageBytes {
    uint64_t sst = 0;
    uint64_t blob = 0;
  };
  StorageBytes storage_bytes() const;
  const std::string& chain_id() const { return chain_id_; }
  // The format version Open migrated this store from; 0 when it was already current.
  uint32_t migrated_from() const { return migrated_from_; }
  // The height of the head block if it failed its checks at open (open_damaged_head) and has
  // not been repaired since; 0 otherwise.
  uint64_t damaged_head() const;

  // OK until a write fails; from then on the first failed write's error (kResourceExhausted
  // for a full disk, kInternal or kDataLoss for others), which every later write returns.
  // Refusals of a block's content (kFailedPrecondition, kAlreadyExists, ...) do not count.
  Status write_status() const;

  // Writes a block, its indexes, payloads, certificate and registry changes in one synced
  // batch. kFailedPrecondition if the header is not head+1 on this chain with prev = head
  // hash, or its root/count do not match the records; kAlreadyExists if a record id or a
  // (device, seq) is already stored (store unchanged); when the write fails, its error (see
  // write_status()).
  Status Append(const BlockToAppend& block);

  // Rewrites stored block `height` (1..head) whose stored copy fails its checks, from a copy
  // fetched elsewhere: header, body, certificate, the block's index entries and the payloads
  // given, in one synced batch. The caller has verified the certificate's signatures against
  // the genesis validators; this checks the rest. kOutOfRange past the head; kAlreadyExists if
  // the stored copy checks out (nothing written); kFailedPrecondition (nothing written) if the
  // copy is not block `height` of this chain, its root or count does not match its records,
  // its certificate digest is not its commit digest, its prev is not the header hash of block
  // height-1, or its header hash is not block height+1's prev (the head record's hash for the
  // head). A neighbour that fails its own checks is not used as a reference (the certificate
  // still pins the header). A copy with payloads rewrites the block's payloads: the copy's, and
  // for records it has none for, the stored ones that still match their record's hash; one
  // without (empty `payloads`) leaves them. When the write fails, its error (see
  // write_status()).
  Status RepairBlock(uint64_t height, const BlockToAppend& block);

  // Light stores: drops the bodies and payloads of blocks pruned_below()..below-1 (a
  // DeleteRange of each, both keyed by height), and the index entries of their records
  // that `indexes` names (keys are hashes, so one Delete per entry), in one synced batch, then
  // compacts what it touched. Headers, certificates, the registry, the first-record index and
  // the metadata stay. The head block is never pruned: `below` is capped at the head. Nothing
  // to do (from > to) when `below` <= pruned_below(). kFailedPrecondition on a full store; the
  // write's error (see write_status()) when it fails. Writer thread only.
  StatusOr<PruneResult> Prune(uint64_t below, PrunedIndexes indexes = PrunedIndexes::kKeep);
  // The lowest height whose body is still kept (1 when nothing was pruned).
  uint64_t pruned_below() const;
  // record_index and device_seq (FindRecord, FindBySeq, Contains, ContainsSeq) may miss
  // records of blocks below this height: a Prune with kAll dropped them. 1 when none was.
  uint64_t index_pruned_below() const;
  // time_index (History) may miss records of blocks below this height (a
  // Prune with kHistory or kAll). 1 when none was.
  uint64_t history_pruned_below() const;
  bool light() const { return light_; }

  // ---- Checkpoint state (docs/CATCHUP.md) ----
  // Heights whose state is pinned now (StoreOptions.state_interval), ascending.
  std::vector<uint64_t> StateHeights() const;
  // Rows of the state pinned at `height` (ledger/state_digest.h's tables, in digest order)
  // after cursor `after` (empty: from the first), up to about `max_bytes`. kNotFound when
  // `height` is not pinned (any more). Rows of tables above `last_table` are left out.
  StatusOr<StateChunk> ReadState(uint64_t height, const Bytes& after, size_t max_bytes,
                                 uint8_t last_table = kMaxStateTable) const;
  // The index chain as of pinned `height` (Append extends it with every block, in the
  // block's own batch). kNotFound when `height` is not pinned (any more); kDataLoss when the
  // stored chain is malformed or not at `height`.
  StatusOr<IndexChainHead> PinnedIndexChain(uint64_t height) const;

  // Installing a checkpoint state into an empty store (a node joining a long chain), in
  // steps: PutStateHeaders and PutStateRows stage data (unsynced), FinishStateInstall makes
  // it the chain; a store reopened before FinishStateInstall drops what was staged.
  // Headers and certificates of blocks first.., checked by the caller; kFailedPrecondition
  // unless the store is empty.
  Status PutStateHeaders(
      uint64_t first,
      const std::vector<std::pair<Bytes, provledger::v1::CommitCertificate>>& headers);
  // Rows of the state (not yet verified: the caller digests them); kInvalidArgument for a
  // table out of 1..4 or a first-record row whose key does not start "first/";
  // kFailedPrecondition unless the store is empty.
  Status PutStateRows(const std::vector<StateRow>& rows);
  // Drops every staged state row (a state that failed its digest), and the staged headers
  // too with `headers` (an install given up). kFailedPrecondition unless the store is empty.
  Status DiscardStaged(bool headers);
  // Makes the staged state the store's: block `base` (its header, body, certificate and
  // payloads; its prev must be the staged header hash of base-1, its indexes are in the
  // state) becomes the head, `index` (the joiner's StateDigester's index chain at `base`;
  // null: derived here by one scan of the staged index rows) its index chain, `record_count` the
  // records of blocks 1..base, bodies below `base` absent (ReadBlock answers "pruned"), in one
  // synced batch. kFailedPrecondition unless the store is empty and the block checks out.
  Status FinishStateInstall(uint64_t base, const BlockToAppend& block, uint64_t record_count,
                            const IndexChainHead* index = nullptr);
  // The height a state install started the store at; 0 for a store built block by block.
  uint64_t state_base() const;
  // The header bytes and certificate of `height`; kOutOfRange past the head.
  StatusOr<std::pair<Bytes, provledger::v1::CommitCertificate>> ReadHeaderAndCertificate(
      uint64_t height) const;

  // Reads and checks block `height`. kOutOfRange past the head; kFailedPrecondition
  // ("pruned") for a block whose body a light store dropped (ReadHeaderBytes still answers);
  // kDataLoss if the stored bytes fail their checks (never served as good).
  StatusOr<StoredBlock> ReadBlock(uint64_t height, bool with_payloads = false) const;
  // Header bytes of `height` only (no body check); kOutOfRange past the head.
  StatusOr<Bytes> ReadHeaderBytes(uint64_t height) const;

  // Header and certificate of `height`, kept for every block, pruned or not (a light node
  // checks what a full node sends against them), checked against each other: the header
  // decodes as block `height` of this chain and the certificate's digest is its commit
  // digest. kOutOfRange past the head; kDataLoss if they fail those checks. Fills no body.
  StatusOr<StoredBlock> ReadCertifiedHeader(uint64_t height) const;

  // kNotFound if the record id is not on the chain.
  StatusOr<RecordLocation> FindRecord(ByteView record_id) const;
  // The record id stored for (device, seq); kNotFound if none.
  StatusOr<Bytes> FindBySeq(const std::string& device, uint64_t seq) const;
  // Whether `record_id`, or (device, seq) of a kind 1/2 record, is already stored; the read's
  // error (kDataLoss, kInternal) when the index cannot be read: never "absent" for a failed
  // read.
  StatusOr<bool> Contains(ByteView record_id) const;
  StatusOr<bool> ContainsSeq(const std::string& device, uint64_t seq) const;
  // The height of the block holding the first record of `device` and `item` on the chain
  // (kinds 1 and 2; item "_integrity" for kind 2), from an index written with each block.
  // kNotFound when the chain holds no record of them.
  StatusOr<uint64_t> FirstItemHeight(const std::string& device, const std::string& item) const;
  // The payload kept for a record; kNotFound if none is kept.
  StatusOr<Bytes> ReadPayload(ByteView record_id) const;

  // Records of `device` (and `item`, unless empty) with from_ts <= ts <= to_ts, in time
  // order, at most `limit`, starting after `after` (an opaque cursor, empty = from start).
  // Fills *next_cursor (empty when done); `after` and `next_cursor` may be one variable.
  // kInvalidArgument for limit 0 or a cursor of another device.
  Status History(const std::string& device, const std::string& item, uint64_t from_ts,
                 uint64_t to_ts, uint32_t limit, const Bytes& after, std::vector<HistoryItem>* out,
                 Bytes* next_cursor) const;

  // Registry state: all key/value pairs under `prefix` (empty: every row) in key order, and
  // one key (kNotFound if absent). A scan whose read fails returns the error, never the rows
  // read before it.
  StatusOr<std::vector<std::pair<Bytes, Bytes>>> RegistryScan(const Bytes& prefix) const;
  StatusOr<Bytes> RegistryGet(const Bytes& key) const;

  // Node metadata (small values: genesis hash, node id, ...). kNotFound if absent.
  StatusOr<Bytes> GetMeta(const std::string& key) const;
  // Writes one metadata entry, synced; when the write fails, its error (see write_status()).
  Status PutMeta(const std::string& key, ByteView value);
  // Writes `puts` and removes `deletes` in one batch (synced when `sync`); when the write
  // fails, its error (see write_status()).
  Status PutMetaBatch(const std::vector<std::pair<std::string, Bytes>>& puts,
                      const std::vector<std::string>& deletes, bool sync);
  // Every metadata entry whose key starts with `prefix`; a scan whose read fails returns the
  // error, never the entries read before it.
  StatusOr<std::vector<std::pair<std::string, Bytes>>> MetaScan(const std::string& prefix) const;

  // Pruned blocks (light stores) are checked by header and certificate only.
  // Checks every block from height 1 to the head with CheckCertifiedBlock
  // (ledger/chain_check.h): header hash, prev link, Merkle root, record count, and the
  // certificate digest, with `genesis` (may be null) its signatures too, each against the
  // validator set in force at its height (docs/VALIDATOR_SET.md: the schedule of the registry
  // rows for pruned blocks, else derived from the blocks, which must agree with the rows);
  // then the head record.
  // Returns OK or kDataLoss naming the first bad height. `progress` (may be empty) is called
  // every 1000 blocks with the height reached.
  Status VerifyChain(const Genesis* genesis, const std::function<void(uint64_t)>& progress) const;

 private:
  // The payload kept at (height, index), in its own row or the block's packed row;
  // kNotFound if none is kept. `what` names it in errors.
  StatusOr<Bytes> ReadPayloadAt(const RecordLocation& loc, const std::string& what) const;
  // Test-only access (ledger/store/block_store_testing.h): writes damage behind the store.
  friend class BlockStoreTesting;

  BlockStore() = default;
  Status LoadHead(bool open_damaged_head);
  // Builds the first-record index once for a store written before it existed.
  Status BackfillFirstIndex();
  // The index chain at the head, from a scan of the index rows (a store written before the
  // chain existed, or a state install given none).
  StatusOr<IndexChainHead> DeriveIndexChain(uint64_t head) const;
  // Loads the stored index chain, deriving and storing it when absent or not at the head.
  Status LoadIndexChain();
  // Rewrites a format 1 store in the current format (payloads by (height, position), which
  // format 3 reads as format 2 wrote them; no device_item rows), idempotently, writing the
  // version last (synced).
  Status MigrateFromFormat1();
  StatusOr<StoredBlock> ReadBlockUnchecked(uint64_t height, bool with_payloads) const;
  // A stored block against itself (CheckCertifiedBlock without a prev); kDataLoss.
  Status CheckBlock(const StoredBlock& b, uint64_t height) const;
  // A stored block as block `at` (CheckCertifiedBlock); kDataLoss naming the height.
  Status CheckStored(const StoredBlock& b, const ChainLink& at, const ValidatorSet* set) const;
  // Checks a block to write as block `at` (CheckCertifiedBlock without signatures); fills
  // *header, *header_hash and *leaves (the record ids). kFailedPrecondition naming the cause.
  Status CheckToWrite(const BlockToAppend& block, const ChainLink& at, BlockHeader* header,
                      std::vector<Bytes>* leaves, Bytes* header_hash) const;
  // Adds the index entries and payloads of `records` at `height` to `batch`; kAlreadyExists
  // if a record id or (device, seq) is twice in the block or, when `fresh`, already stored.
  // Feeds the index rows it adds (tables 2..4, (table, key) order) to `added` unless null.
  // Appends the first-record keys the batch writes to *first_written (for RememberFirst once
  // the batch is written).
  // `given` is BlockToAppend.fields (empty: the records are decoded here).
  Status AddIndexes(uint64_t height, const std::vector<Bytes>& records,
                    const std::vector<Bytes>& leaves, const std::vector<IndexFields>& given,
                    const std::vector<std::optional<Bytes>>& payloads, bool fresh,
                    rocksdb::WriteBatch* batch, RowsDigester* added,
                    std::vector<Bytes>* first_written) const;
  // Notes a first-record key as stored (first_known_), up to kMaxFirstKnown keys.
  void RememberFirst(const Bytes& key) const;
  // Adds the payloads of a block of `records` records at `height` to `batch`: those below
  // min_blob_size_ packed in one value, the others each under its own key.
  void AddPayloads(uint64_t height, const std::vector<std::optional<Bytes>>& payloads,
                   size_t records, rocksdb::WriteBatch* batch) const;
  // Flushes every column family's memtable to table files (waits).
  Status FlushAll();
  // Pins the state as of the head when state_interval_ divides it (latest two kept).
  void MaybePinState();
  // Writes `batch` unless a write failed before; records the first failure.
  Status Write(bool sync, rocksdb::WriteBatch* batch, const std::string& what);

  std::string chain_id_;
  uint32_t migrated_from_ = 0;
  bool sync_ = true;
  bool light_ = false;
  uint64_t min_blob_size_ = 4096;
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // owned by db_, destroyed before it

  mutable std::mutex mu_;
  uint64_t height_ = 0;                // guarded by mu_
  Bytes head_hash_;                    // guarded by mu_
  uint64_t record_count_ = 0;          // guarded by mu_
  uint64_t damaged_head_ = 0;          // guarded by mu_
  uint64_t pruned_below_ = 1;          // guarded by mu_
  uint64_t index_pruned_below_ = 1;    // guarded by mu_
  uint64_t history_pruned_below_ = 1;  // guarded by mu_
  Status write_status_;                // guarded by mu_
  uint64_t state_interval_ = 0;
  IndexChainHead index_chain_;  // at the head; writer thread only
  // First-record index keys known to be stored, so that a block's devices and items already
  // on the chain cost no read (the rows are never deleted once the chain holds them: only
  // DiscardStaged drops staged ones, and clears this). Writer thread only.
  static constexpr size_t kMaxFirstKnown = 1 << 18;
  mutable std::unordered_set<Bytes> first_known_;
  uint64_t state_base_ = 0;  // guarded by mu_
  // Pinned states by height; each releases its RocksDB snapshot when the last user drops it.
  std::map<uint64_t, std::shared_ptr<const rocksdb::Snapshot>> pinned_;  // guarded by mu_
};

// Encodes a block body (records only) as u32be(count) || count x lp(record).
Bytes EncodeBody(const std::vector<Bytes>& records);
// Strict inverse of EncodeBody; kDataLoss on any inconsistency.
StatusOr<std::vector<Bytes>> DecodeBody(ByteView body);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_STORE_BLOCK_STORE_H_
