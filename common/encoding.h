// Byte-level helpers shared by the gateway, agent and CLI: hex and base64url
// encoding, SHA-256, cryptographically secure random bytes and tokens, and
// whole-file I/O with atomic replacement.
#ifndef TINYFLEET_COMMON_ENCODING_H_
#define TINYFLEET_COMMON_ENCODING_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tinyfleet {

std::string HexEncode(std::span<const uint8_t> bytes);
std::string HexEncode(std::string_view bytes);
// Accepts upper or lower case; fails on odd length or non-hex characters.
Result<std::string> HexDecode(std::string_view hex);

// RFC 4648 base64url without padding.
std::string Base64UrlEncode(std::string_view bytes);

using Sha256Digest = std::array<uint8_t, 32>;
Sha256Digest Sha256(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);

// `n` bytes from the OS CSPRNG (OpenSSL RAND_bytes). Fails only when the
// generator cannot be seeded.
Result<std::string> RandomBytes(size_t n);

// A random secret token: `prefix` + base64url of 32 random bytes.
Result<std::string> RandomToken(std::string_view prefix);

// Reads a whole file. NOT_FOUND when absent.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes `contents` to a temporary file beside `path`, fsyncs it, and renames
// it over `path`, so readers see the old or the new file, never a mix.
// `mode` is applied to the new file (e.g. 0600 for secrets).
Status WriteFileAtomic(const std::filesystem::path& path,
                       std::string_view contents, unsigned mode = 0644);

}  // namespace tinyfleet

#endif  // TINYFLEET_COMMON_ENCODING_H_
