/*
 * libFuzzer target for the adapt room's decoders of untrusted bytes: TNTL
 * tails and TNUP updates (and the link's training messages). The first
 * input byte picks the decoder and whether the trailing SHA-256 is
 * recomputed over the rest first, so that the structural checks behind the
 * hash are reached. An accepted TNTL must re-encode to exactly the input;
 * an accepted TNUP must expand to a delta and apply to a start vector
 * without touching memory outside its bytes (ASan) and yield finite values.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "adapt/tn_adapt.h"
#include "link/tn_link.h"
#include "secure/tn_secure.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

#define MAX_INPUT 65536u
#define MAX_FLOATS 16384u

static uint8_t g_in[MAX_INPUT];
static uint8_t g_out[MAX_INPUT];
static float g_params[MAX_FLOATS];
static float g_delta[MAX_FLOATS];

static void fuzz_tntl(const uint8_t* d, size_t n) {
  tn_tntl t;
  if (tn_tntl_decode(d, n, &t) != TN_OK) return;
  REQUIRE(t.size == n && t.param_count > 0);
  if (t.param_count > MAX_FLOATS) return;
  REQUIRE(tn_tntl_read_params(&t, g_params, MAX_FLOATS) == TN_OK);
  size_t w = 0;
  REQUIRE(tn_tntl_encode(t.frozen_sha256, g_params, t.param_count, g_out,
                         sizeof(g_out), &w) == TN_OK);
  REQUIRE(w == n && memcmp(g_out, d, n) == 0);
}

static void fuzz_tnup(const uint8_t* d, size_t n) {
  tn_tnup u;
  if (tn_tnup_decode(d, n, &u) != TN_OK) return;
  REQUIRE(u.size == n && u.tensor_count >= 1 &&
          u.tensor_count <= TN_TNUP_MAX_TENSORS);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < u.tensor_count; ++i) {
    tn_tnup_tensor x;
    REQUIRE(tn_tnup_tensor_at(&u, i, &x) == TN_OK);
    REQUIRE(x.nnz <= x.element_count && x.scale > 0.0f);
    sum += x.element_count;
  }
  REQUIRE(sum == u.param_count);
  if (u.param_count > MAX_FLOATS) return;
  REQUIRE(tn_tnup_delta(&u, g_delta, MAX_FLOATS) == TN_OK);
  for (uint32_t i = 0; i < u.param_count; ++i) g_params[i] = 0.0f;
  REQUIRE(tn_tnup_apply(&u, g_params, u.param_count, g_params) == TN_OK);
  for (uint32_t i = 0; i < u.param_count; ++i) {
    REQUIRE(g_params[i] == g_delta[i]);
    REQUIRE(g_delta[i] - g_delta[i] == 0.0f); /* finite */
  }
}

/* The link's training messages: an accepted payload re-encodes to the same
 * bytes (canonical encoding). */
static void fuzz_link(uint8_t which, const uint8_t* d, size_t n) {
  uint8_t out[TN_LINK_MAX_PAYLOAD];
  size_t w = 0;
  tn_status st = TN_ERR_MSG_MALFORMED;
  switch (which % 5u) {
    case 0: {
      tn_link_train_params m;
      if (tn_link_train_params_decode(d, n, &m) != TN_OK) return;
      st = tn_link_train_params_encode(&m, out, sizeof(out), &w);
      break;
    }
    case 1: {
      tn_link_train_tail m;
      if (tn_link_train_tail_decode(d, n, &m) != TN_OK) return;
      st = tn_link_train_tail_encode(&m, out, sizeof(out), &w);
      break;
    }
    case 2: {
      tn_link_train_status_reply m;
      if (tn_link_train_status_reply_decode(d, n, &m) != TN_OK) return;
      st = tn_link_train_status_reply_encode(&m, out, sizeof(out), &w);
      break;
    }
    case 3: {
      tn_link_update_read m;
      if (tn_link_update_read_decode(d, n, &m) != TN_OK) return;
      st = tn_link_update_read_encode(&m, out, sizeof(out), &w);
      break;
    }
    default: {
      tn_link_train_cancel m;
      if (tn_link_train_cancel_decode(d, n, &m) != TN_OK) return;
      st = tn_link_train_cancel_encode(&m, out, sizeof(out), &w);
      break;
    }
  }
  REQUIRE(st == TN_OK && w == n && memcmp(out, d, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size - 1 > MAX_INPUT) return 0;
  const uint8_t mode = data[0];
  const size_t n = size - 1;
  memcpy(g_in, data + 1, n);
  if ((mode & 0x80u) && n >= 32) {
    (void)tn_sha256(g_in, n - 32, g_in + n - 32);
  }
  switch (mode & 0x03u) {
    case 0:
      fuzz_tntl(g_in, n);
      break;
    case 1:
      fuzz_tnup(g_in, n);
      break;
    case 2:
      if (n >= 1 && n - 1 <= TN_LINK_MAX_PAYLOAD) {
        fuzz_link(g_in[0], g_in + 1, n - 1);
      }
      break;
    default:
      break;
  }
  return 0;
}
