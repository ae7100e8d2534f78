// The gateway's OpenSSL opener against the format: the published test
// vector, records sealed by the node's own code (device/secure, mbedTLS) of
// every size class, and refusal of every tampered byte, another device id
// and another key.
#include "server/telemetry/record_opener.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "secure/tn_secure.h"
#include "telemetry/tn_telemetry.h"

namespace tinyfleet::telemetry {
namespace {

std::vector<uint8_t> Hex(const std::string& text) {
  std::string compact;
  for (char c : text)
    if (c != ' ') compact.push_back(c);
  auto raw = HexDecode(compact);
  EXPECT_TRUE(raw.ok()) << text;
  return raw.ok() ? std::vector<uint8_t>(raw->begin(), raw->end())
                  : std::vector<uint8_t>{};
}

// The key of docs/formats/telemetry.md section 10.
tn_seal_key SpecKey() {
  tn_seal_key key{};
  auto aes = Hex("e0dfd887cfb3e0a1728279e9fd5b8395");
  auto salt = Hex("5780c061");
  auto key_id = Hex("dbd5cf9e8f2eddc4");
  std::memcpy(key.aes_key, aes.data(), sizeof(key.aes_key));
  std::memcpy(key.nonce_salt, salt.data(), sizeof(key.nonce_salt));
  std::memcpy(key.key_id, key_id.data(), sizeof(key.key_id));
  const std::string id = "dev-abcdefghij0123456789";
  key.device_id_len = static_cast<uint8_t>(id.size());
  std::memcpy(key.device_id, id.data(), id.size());
  return key;
}

// A key as the node derives it for `device_id` (arbitrary but fixed bytes).
tn_seal_key NodeKey(const std::string& device_id, uint8_t fill) {
  tn_seal_key key{};
  for (size_t i = 0; i < sizeof(key.aes_key); ++i)
    key.aes_key[i] = static_cast<uint8_t>(fill + 7 * i);
  for (size_t i = 0; i < sizeof(key.nonce_salt); ++i)
    key.nonce_salt[i] = static_cast<uint8_t>(fill ^ (0x5a + i));
  key.device_id_len = static_cast<uint8_t>(device_id.size());
  std::memcpy(key.device_id, device_id.data(), device_id.size());
  return key;
}

std::string SealWithNodeCode(const tn_seal_key& key, uint64_t counter,
                             const std::vector<uint8_t>& plain) {
  std::vector<uint8_t> out(TN_SEAL_MAX_SEALED);
  size_t len = 0;
  EXPECT_EQ(
      tn_seal_record_with_counter(&key, counter, plain.data(), plain.size(),
                                  out.data(), out.size(), &len),
      TN_OK);
  return std::string(reinterpret_cast<char*>(out.data()), len);
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 31 * i);
  return v;
}

class RecordOpenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = RecordOpener::Create();
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    opener_ = std::move(*o);
  }
  std::unique_ptr<RecordOpener> opener_;
  std::vector<uint8_t> plain_ = std::vector<uint8_t>(TN_SEAL_MAX_PLAINTEXT);
};

TEST_F(RecordOpenerTest, OpensThePublishedTestVector) {
  auto sealed =
      Hex("01 0807060504030201 6f23299bedddc27424830e4c1f5f7a25bc57662ab50efb17"
          "3ab3b2bc 5d786c2f6ffaff19e518b05444c6ea56");
  auto counter = opener_->Open(
      SpecKey(),
      std::string_view(reinterpret_cast<char*>(sealed.data()), sealed.size()),
      plain_.data());
  ASSERT_TRUE(counter.ok()) << counter.status().ToString();
  EXPECT_EQ(*counter, 0x0102030405060708u);
  const std::string expected = "tinyfleet sealed record test";
  EXPECT_EQ(std::string(reinterpret_cast<char*>(plain_.data()),
                        sealed.size() - TN_SEAL_OVERHEAD),
            expected);
}

TEST_F(RecordOpenerTest, OpensWhatTheNodeCodeSealsAtEverySize) {
  const tn_seal_key key = NodeKey("dev-sizes", 3);
  for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{112},
                   size_t{TN_TELEMETRY_RECORD_MAX}, size_t{255},
                   size_t{TN_SEAL_MAX_PLAINTEXT}}) {
    SCOPED_TRACE(n);
    auto plain = Pattern(n, static_cast<uint8_t>(n));
    const uint64_t counter = 0x1000 + n;
    std::string sealed = SealWithNodeCode(key, counter, plain);
    std::fill(plain_.begin(), plain_.end(), 0xEE);
    auto opened = opener_->Open(key, sealed, plain_.data());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, counter);
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), plain_.begin()));
    // The node's own opener agrees byte for byte.
    std::vector<uint8_t> theirs(TN_SEAL_MAX_PLAINTEXT);
    size_t len = 0;
    uint64_t c = 0;
    ASSERT_EQ(
        tn_seal_open(&key, reinterpret_cast<const uint8_t*>(sealed.data()),
                     sealed.size(), theirs.data(), theirs.size(), &len, &c),
        TN_OK);
    EXPECT_EQ(len, n);
    EXPECT_EQ(c, counter);
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), theirs.begin()));
  }
}

TEST_F(RecordOpenerTest, EveryTamperedByteIsRefusedAndReleasesNothing) {
  const tn_seal_key key = NodeKey("dev-tamper", 9);
  auto plain = Pattern(60, 1);
  const std::string good = SealWithNodeCode(key, 77, plain);
  for (size_t i = 0; i < good.size(); ++i) {
    SCOPED_TRACE(i);
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    std::fill(plain_.begin(), plain_.end(), 0xEE);
    auto opened = opener_->Open(key, bad, plain_.data());
    ASSERT_FALSE(opened.ok());
    // Byte 0 is the format: refused before any cryptography.
    EXPECT_EQ(opened.status().code(), i == 0 ? StatusCode::kInvalidArgument
                                             : StatusCode::kUnauthenticated);
    if (i > 0) {
      EXPECT_TRUE(std::all_of(plain_.begin(), plain_.begin() + 60,
                              [](uint8_t b) { return b == 0; }))
          << "plaintext released from a forged record";
    }
    // The opener is still usable afterwards.
    auto again = opener_->Open(key, good, plain_.data());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), plain_.begin()));
  }
  // A truncated tag, a record moved onto another counter.
  EXPECT_FALSE(
      opener_->Open(key, good.substr(0, good.size() - 1), plain_.data()).ok());
  std::string moved = SealWithNodeCode(key, 78, plain);
  std::memcpy(moved.data() + 1, good.data() + 1, 8);
  EXPECT_EQ(opener_->Open(key, moved, plain_.data()).status().code(),
            StatusCode::kUnauthenticated);
}

TEST_F(RecordOpenerTest, AnotherDeviceIdOrKeyDoesNotOpen) {
  const tn_seal_key a = NodeKey("dev-a", 1);
  const tn_seal_key b = NodeKey("dev-b", 2);
  tn_seal_key a_for_b = a;  // a's AES key under b's device id
  a_for_b.device_id_len = b.device_id_len;
  std::memcpy(a_for_b.device_id, b.device_id, sizeof(b.device_id));
  auto plain = Pattern(40, 5);
  std::string from_a = SealWithNodeCode(a, 5, plain);
  std::string from_b = SealWithNodeCode(b, 5, plain);
  EXPECT_EQ(opener_->Open(b, from_a, plain_.data()).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(opener_->Open(a_for_b, from_a, plain_.data()).status().code(),
            StatusCode::kUnauthenticated);
  // Alternating keys: the cached key schedule follows the key.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(*opener_->Open(a, from_a, plain_.data()), 5u);
    EXPECT_EQ(*opener_->Open(b, from_b, plain_.data()), 5u);
  }
}

TEST_F(RecordOpenerTest, MalformedEnvelopesAreRefusedBeforeCryptography) {
  const tn_seal_key key = NodeKey("dev-x", 4);
  EXPECT_EQ(
      opener_->Open(key, std::string(TN_SEAL_OVERHEAD, '\1'), plain_.data())
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      opener_
          ->Open(key, std::string(TN_SEAL_MAX_SEALED + 1, '\1'), plain_.data())
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  std::string zero_counter = SealWithNodeCode(key, 1, Pattern(8, 0));
  std::memset(zero_counter.data() + 1, 0, 8);
  EXPECT_EQ(opener_->Open(key, zero_counter, plain_.data()).status().code(),
            StatusCode::kInvalidArgument);
  tn_seal_key no_id = key;
  no_id.device_id_len = 0;
  EXPECT_EQ(
      opener_
          ->Open(no_id, SealWithNodeCode(key, 2, Pattern(8, 0)), plain_.data())
          .status()
          .code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tinyfleet::telemetry
