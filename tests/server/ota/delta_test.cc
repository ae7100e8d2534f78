// Deltas on the gateway: building and applying them with the firmware's
// builder and decoder, the catalog computing them for a new version that
// shares the frozen part of earlier ones (and not otherwise), and the
// choice between delta and full blob for a device, with the fallback after
// a refusal. Blobs are the OTA fixture's DS-CNN keyword spotter (tail-only
// updates are made by scaling its tail parameters), stores are SQLite in
// memory with artifacts in a temporary directory.
#include "server/ota/delta.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "ota/tn_ota.h"
#include "ota_fixture.h"
#include "server/catalog/model_catalog.h"
#include "server/ota/artifact_store.h"
#include "server/store/sqlite_store.h"
#include "tests/support/test_env.h"

namespace tinyfleet::ota {
namespace {

// A DS-CNN blob with a reserved (zeroed) signature section.
std::string Blob(uint32_t version, uint64_t seed, uint32_t tail_step) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  spec.version = version;
  spec.seed = seed;
  spec.tail_step = tail_step;
  std::string out(OTA_TEST_BLOB_MAX, '\0');
  size_t size = 0;
  EXPECT_EQ(ota_build_blob(&spec, reinterpret_cast<uint8_t*>(out.data()),
                           out.size(), &size),
            TN_OK);
  out.resize(size);
  return out;
}

// The same, signed with the fixture's stand-in scheme.
std::string SignedBlob(uint32_t version, uint64_t seed, uint32_t tail_step) {
  std::string b = Blob(version, seed, tail_step);
  uint8_t key[TN_OTA_PUBLIC_KEY_SIZE];
  ota_test_key(key, 1);
  EXPECT_EQ(ota_test_sign(reinterpret_cast<uint8_t*>(b.data()), b.size(), key),
            TN_OK);
  return b;
}

TEST(DeltaTest, TailUpdateIsSmallAndRebuildsTheBlob) {
  std::string v1 = SignedBlob(1, 1, 0);
  std::string v2 = SignedBlob(2, 1, 15);
  auto delta = BuildDelta(v1, v2);
  ASSERT_TRUE(delta.ok()) << delta.status().ToString();
  EXPECT_LT(delta->size() * 4, v2.size());
  auto rebuilt = ApplyDelta(v1, *delta);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(*rebuilt, v2);
  // Deterministic: the same inputs give the same artifact.
  EXPECT_EQ(*BuildDelta(v1, v2), *delta);
}

TEST(DeltaTest, AnotherBaseOrAMalformedDeltaIsRefused) {
  std::string v1 = SignedBlob(1, 1, 0);
  std::string v2 = SignedBlob(2, 1, 15);
  std::string other = SignedBlob(1, 9, 0);
  auto delta = BuildDelta(v1, v2);
  ASSERT_TRUE(delta.ok());
  EXPECT_EQ(ApplyDelta(other, *delta).status().code(),
            StatusCode::kFailedPrecondition);
  std::string bad = *delta;
  bad[0] = 'X';
  EXPECT_EQ(ApplyDelta(v1, bad).status().code(), StatusCode::kInvalidArgument);
  bad = *delta;
  bad.back() ^= 0x10;  // the result no longer hashes to the header's
  EXPECT_EQ(ApplyDelta(v1, bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDelta(v1, "not a blob").status().code(),
            StatusCode::kInvalidArgument);
}

v1::Model ModelWithDeltas() {
  v1::Model m;
  m.set_model_id("11111111111111111111111111111111");
  m.set_blob_version(3);
  auto* a = m.add_deltas();
  a->set_base_model_id(m.model_id());
  a->set_base_blob_version(2);
  a->set_artifact_id("d2");
  auto* b = m.add_deltas();
  b->set_base_model_id(m.model_id());
  b->set_base_blob_version(1);
  b->set_artifact_id("d1");
  return m;
}

TEST(DeltaTest, ChoosesTheDeltaOfTheRunningBlobElseTheBlob) {
  v1::Model m = ModelWithDeltas();
  auto c = ChooseArtifact(m, "blob", m.model_id(), 1, false);
  EXPECT_TRUE(c.is_delta);
  EXPECT_EQ(c.artifact_id, "d1");
  c = ChooseArtifact(m, "blob", m.model_id(), 2, false);
  EXPECT_TRUE(c.is_delta);
  EXPECT_EQ(c.artifact_id, "d2");
  // A version without a delta, another model, no model, a refusal.
  for (auto [id, version, refused] :
       {std::tuple<std::string, uint32_t, bool>{m.model_id(), 7, false},
        {"22222222222222222222222222222222", 1, false},
        {"", 0, false},
        {m.model_id(), 1, true}}) {
    c = ChooseArtifact(m, "blob", id, version, refused);
    EXPECT_FALSE(c.is_delta) << id << " " << version << " " << refused;
    EXPECT_EQ(c.artifact_id, "blob");
  }
}

TEST(DeltaTest, RefusalsOfTheDeltaFallBackToTheBlob) {
  EXPECT_TRUE(RetryWithFullBlob("TN_ERR_OTA_BASE"));
  EXPECT_TRUE(RetryWithFullBlob("TN_ERR_OTA_DELTA"));
  EXPECT_TRUE(RetryWithFullBlob("TN_ERR_MSG_TYPE"));  // an older node
  EXPECT_TRUE(RetryWithFullBlob("TN_ERR_BLOB_CHECKSUM"));
  EXPECT_TRUE(RetryWithFullBlob("UNAVAILABLE"));  // the download failed
  // The model's own faults: the blob would fail the same way.
  EXPECT_FALSE(RetryWithFullBlob("TN_ERR_SELFTEST"));
  EXPECT_FALSE(RetryWithFullBlob("TN_ERR_ROLLBACK"));
  EXPECT_FALSE(RetryWithFullBlob("TN_ERR_BLOB_TARGET"));
}

class CatalogDeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({}, clock_)).value();
    artifacts_ = std::move(ArtifactStore::Open(dir_.path() / "artifacts",
                                               &store_->artifacts(), &clock_))
                     .value();
    key_ = std::move(catalog::SigningKey::LoadOrCreate(dir_.path())).value();
    catalog_ =
        std::move(catalog::ModelCatalog::Create(store_.get(), artifacts_.get(),
                                                &key_, nullptr, &clock_))
            .value();
  }

  v1::Model Add(const std::string& blob) {
    v1::UploadModelHeader h;
    h.set_name("kws");
    auto m = catalog_->AddBlob(h, blob);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : v1::Model{};
  }

  FakeClock clock_;
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  catalog::SigningKey key_;
  std::unique_ptr<catalog::ModelCatalog> catalog_;
};

TEST_F(CatalogDeltaTest, TailOnlyVersionsGetDeltasFromEarlierOnes) {
  v1::Model first = Add(Blob(1, 1, 0));
  EXPECT_EQ(first.deltas_size(), 0);
  v1::Model second = Add(Blob(2, 1, 10));
  ASSERT_EQ(second.deltas_size(), 1);
  const v1::ModelDelta& d = second.deltas(0);
  EXPECT_EQ(d.base_version(), first.version());
  EXPECT_EQ(d.base_model_id(), first.model_id());
  EXPECT_EQ(d.base_blob_version(), 1u);
  EXPECT_EQ(d.base_blob_sha256(), first.blob_sha256());
  auto rec = artifacts_->Get(d.artifact_id());
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->kind, "delta");
  EXPECT_EQ(rec->size, d.bytes());
  EXPECT_LT(d.bytes() * 4, second.blob_bytes());
  // The stored delta rebuilds the stored (signed) blob from the first.
  auto base = artifacts_->ReadAll(first.blob_sha256());
  auto delta = artifacts_->ReadAll(d.artifact_id());
  auto blob = artifacts_->ReadAll(second.blob_sha256());
  ASSERT_TRUE(base.ok() && delta.ok() && blob.ok());
  EXPECT_EQ(*ApplyDelta(*base, *delta), *blob);
  // The version is stored with its deltas.
  auto stored = catalog_->Get("kws:2");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->model.deltas_size(), 1);

  // A third tail update: deltas from both earlier versions, newest first.
  v1::Model third = Add(Blob(3, 1, 30));
  ASSERT_EQ(third.deltas_size(), 2);
  EXPECT_EQ(third.deltas(0).base_version(), second.version());
  EXPECT_EQ(third.deltas(1).base_version(), first.version());
}

TEST_F(CatalogDeltaTest, NewFrontEndsGetNoDelta) {
  Add(Blob(1, 1, 0));
  v1::Model retrained = Add(Blob(2, 5, 0));  // other weights
  EXPECT_EQ(retrained.deltas_size(), 0);
}

}  // namespace
}  // namespace tinyfleet::ota
