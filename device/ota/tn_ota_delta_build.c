/*
 * The delta builder (used by the gateway; portable C like the runtime's
 * blob builder, so that the format has one writer and one reader): matches
 * each region of the result blob -- its head (header, section table,
 * padding) and each section with the padding after it -- with the base's
 * region of the same kind, and encodes it as COPY, PATCH or LITERAL
 * operations (docs/formats/ota.md, section 9).
 */
#include <string.h>

#include "ota/tn_ota.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

/* Shared prefixes and suffixes shorter than this are not worth a COPY
 * operation of their own (they go into the PATCH or LITERAL between). */
#define MIN_COPY 32u

typedef struct out_buf {
  uint8_t* p;
  size_t cap;
  size_t len;
  tn_status st;
} out_buf;

static uint8_t* reserve(out_buf* o, size_t n) {
  if (o->st != TN_OK) return NULL;
  if (n > o->cap - o->len) {
    o->st = TN_ERR_BUFFER_TOO_SMALL;
    return NULL;
  }
  uint8_t* at = o->p + o->len;
  o->len += n;
  return at;
}

static void put_op(out_buf* o, uint8_t kind, uint8_t source, uint32_t offset,
                   uint32_t len) {
  uint8_t* h = reserve(o, TN_OTA_DELTA_OP_SIZE);
  if (h == NULL) return;
  h[0] = kind;
  h[1] = source;
  tn_store_u16le(h + 2, 0);
  tn_store_u32le(h + 4, offset);
  tn_store_u32le(h + 8, len);
}

static void put_literal(out_buf* o, const uint8_t* data, uint32_t len) {
  if (len == 0) return;
  put_op(o, TN_OTA_DELTA_LITERAL, 0, 0, len);
  uint8_t* p = reserve(o, len);
  if (p != NULL) memcpy(p, data, len);
}

/* Encoded size of a PATCH payload turning `a` into `b` (n bytes each). */
static size_t patch_cost(const uint8_t* a, const uint8_t* b, uint32_t n) {
  size_t cost = (n + 7u) / 8u;
  for (uint32_t i = 0; i < n; ++i) cost += a[i] != b[i];
  return cost;
}

static void put_patch(out_buf* o, uint8_t source, uint32_t offset,
                      const uint8_t* a, const uint8_t* b, uint32_t n) {
  put_op(o, TN_OTA_DELTA_PATCH, source, offset, n);
  for (uint32_t g = 0; g < n; g += 8u) {
    uint32_t k = n - g < 8u ? n - g : 8u;
    uint8_t mask = 0;
    for (uint32_t i = 0; i < k; ++i) {
      if (a[g + i] != b[g + i]) mask |= (uint8_t)(1u << i);
    }
    uint8_t* p = reserve(o, 1);
    if (p == NULL) return;
    *p = mask;
    for (uint32_t i = 0; i < k; ++i) {
      if ((mask >> i) & 1u) {
        p = reserve(o, 1);
        if (p == NULL) return;
        *p = (uint8_t)(a[g + i] ^ b[g + i]);
      }
    }
  }
}

/* Encodes result region `d` (dn bytes) from base region `source` whose
 * bytes are `s` (sn bytes). */
static void put_region(out_buf* o, uint8_t source, const uint8_t* s,
                       uint32_t sn, const uint8_t* d, uint32_t dn) {
  if (dn == 0) return;
  if (sn == dn && memcmp(s, d, dn) == 0) {
    put_op(o, TN_OTA_DELTA_COPY, source, 0, dn);
    return;
  }
  uint32_t max = sn < dn ? sn : dn;
  uint32_t p = 0;
  while (p < max && s[p] == d[p]) ++p;
  uint32_t q = 0;
  while (q < max - p && s[sn - 1u - q] == d[dn - 1u - q]) ++q;
  if (p < MIN_COPY) p = 0;
  if (q < MIN_COPY) q = 0;
  if (p > 0) put_op(o, TN_OTA_DELTA_COPY, source, 0, p);
  uint32_t mid = dn - p - q;
  if (mid > 0) {
    if (sn == dn && patch_cost(s + p, d + p, mid) + TN_OTA_DELTA_OP_SIZE <
                        (size_t)mid + TN_OTA_DELTA_OP_SIZE) {
      put_patch(o, source, p, s + p, d + p, mid);
    } else {
      put_literal(o, d + p, mid);
    }
  }
  if (q > 0) put_op(o, TN_OTA_DELTA_COPY, source, sn - q, q);
}

/* Region `i` of a parsed blob (TN_OTA_DELTA_HEAD or a section index): the
 * section and the padding after it, or everything before section 0. */
static void region_of(const uint8_t* blob, uint32_t total, uint16_t count,
                      uint8_t i, uint32_t* start, uint32_t* end) {
  const uint8_t* table = blob + TN_BLOB_HEADER_SIZE;
  if (i == TN_OTA_DELTA_HEAD) {
    *start = 0;
    *end = tn_load_u32le(table + 4);
    return;
  }
  *start = tn_load_u32le(table + 16u * i + 4u);
  *end = i + 1u < count ? tn_load_u32le(table + 16u * (i + 1u) + 4u) : total;
}

tn_status tn_ota_delta_build(const uint8_t* base, size_t base_size,
                             const uint8_t* result, size_t result_size,
                             uint8_t* out, size_t cap, size_t* out_len) {
  if (base == NULL || result == NULL || out == NULL || out_len == NULL) {
    return TN_ERR_NULL;
  }
  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  tn_blob b;
  tn_blob r;
  tn_status st = tn_blob_parse(base, base_size, &opt, &b);
  if (st != TN_OK) return st;
  st = tn_blob_parse(result, result_size, &opt, &r);
  if (st != TN_OK) return st;
  uint32_t btotal = (uint32_t)b.size;
  uint32_t rtotal = (uint32_t)r.size;
  uint16_t bcount = tn_load_u16le(base + 14);
  uint16_t rcount = tn_load_u16le(result + 14);
  uint32_t rflags = tn_load_u32le(result + 40);

  out_buf o = {out, cap, 0, TN_OK};
  uint8_t* h = reserve(&o, TN_OTA_DELTA_HEADER_SIZE);
  if (h == NULL) return o.st;
  memset(h, 0, TN_OTA_DELTA_HEADER_SIZE);
  tn_store_u32le(h, TN_OTA_DELTA_MAGIC);
  tn_store_u16le(h + 4, TN_OTA_DELTA_VERSION);
  tn_store_u16le(h + 6, TN_OTA_DELTA_HEADER_SIZE);
  tn_store_u32le(h + 8, rtotal);
  memcpy(h + 12, result + 12, 2); /* target */
  memcpy(h + 16, base + TN_BLOB_DIGEST_OFFSET, 32);
  memcpy(h + 48, result + TN_BLOB_DIGEST_OFFSET, 32);
  st = tn_sha256(result, rtotal, h + TN_OTA_DELTA_RESULT_SHA256_OFFSET);
  if (st != TN_OK) return st;
  if (rflags & TN_BLOB_FLAG_SIGNED) {
    tn_store_u16le(h + 14, TN_OTA_DELTA_FLAG_SIGNED);
    /* The signature section is last: its payload ends the blob. */
    memcpy(h + 112, result + rtotal - TN_OTA_DELTA_SIGNATURE_SIZE,
           TN_OTA_DELTA_SIGNATURE_SIZE);
  }

  /* Regions of the result in order: the head, then each section. */
  for (int ri = -1; ri < (int)rcount; ++ri) {
    uint8_t rid = ri < 0 ? TN_OTA_DELTA_HEAD : (uint8_t)ri;
    uint32_t rs = 0;
    uint32_t re = 0;
    region_of(result, rtotal, rcount, rid, &rs, &re);
    uint8_t bid = TN_OTA_DELTA_HEAD;
    int found = ri < 0;
    if (!found) {
      uint16_t type = tn_load_u16le(result + TN_BLOB_HEADER_SIZE + 16u * rid);
      for (uint16_t k = 0; k < bcount && !found; ++k) {
        if (tn_load_u16le(base + TN_BLOB_HEADER_SIZE + 16u * k) == type) {
          bid = (uint8_t)k;
          found = 1;
        }
      }
    }
    if (!found) {
      put_literal(&o, result + rs, re - rs);
      continue;
    }
    uint32_t bs = 0;
    uint32_t be = 0;
    region_of(base, btotal, bcount, bid, &bs, &be);
    put_region(&o, bid, base + bs, be - bs, result + rs, re - rs);
  }
  if (o.st != TN_OK) return o.st;
  *out_len = o.len;
  return TN_OK;
}
