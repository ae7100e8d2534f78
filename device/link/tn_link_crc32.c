/*
 * CRC-32 of the IEEE 802.3 polynomial in its reflected form (0xEDB88320),
 * the checksum that closes every link frame. A 16-entry table (64 bytes of
 * flash) processes a nibble per step: small enough for the smallest node and
 * about four times faster than bit-serial code.
 */
#include "link/tn_link.h"

/* CRC of each 4-bit value, reflected polynomial 0xEDB88320. */
static const uint32_t kCrcNibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t tn_link_crc32(uint32_t crc, const uint8_t* data, size_t size) {
  uint32_t c = ~crc;
  if (data == NULL) return crc;
  for (size_t i = 0; i < size; ++i) {
    c = (c >> 4) ^ kCrcNibble[(c ^ data[i]) & 0x0Fu];
    c = (c >> 4) ^ kCrcNibble[(c ^ ((uint32_t)data[i] >> 4)) & 0x0Fu];
  }
  return ~c;
}
