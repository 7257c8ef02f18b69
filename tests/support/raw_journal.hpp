// A journal opened with RocksDB itself, for tests that damage it as a bad disk or a bug would,
// and that check nothing changed it. Layout: storage/journal.hpp.
#pragma once

#include <rocksdb/db.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace br::test {

// The column families, in order: records (0), meta (1), snapshots (2).
inline void with_rocksdb(
    const std::string& dir,
    const std::function<void(rocksdb::DB&, std::vector<rocksdb::ColumnFamilyHandle*>&)>& act) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {"meta", {}}, {"snapshots", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open({}, dir, families, &handles, &db).ok());
  act(*db, handles);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

// A record's key: its sequence number, 8 bytes big-endian.
inline std::string seq_key(std::uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) key[static_cast<std::size_t>(i)] = static_cast<char>(seq);
  return key;
}

// Everything stored, family by family: what "left as it was" compares.
inline std::vector<std::map<std::string, std::string>> journal_contents(const std::string& dir) {
  std::vector<std::map<std::string, std::string>> out;
  with_rocksdb(dir, [&](rocksdb::DB& db, auto& cf) {
    for (auto* family : cf) {
      std::map<std::string, std::string> kv;
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, family));
      for (it->SeekToFirst(); it->Valid(); it->Next()) kv[it->key().ToString()] = it->value().ToString();
      out.push_back(std::move(kv));
    }
  });
  return out;
}

}  // namespace br::test
