/*
 * Test double of the security room's storage interface: a few named regions
 * in memory, a write counter, and switches that make reads or writes fail,
 * so tests can cut power (reopen from the same regions) and inject storage
 * faults at exact points. Header-only; each test program has its own copy.
 */
#ifndef TESTS_DEVICE_SECURE_SECURE_TEST_STORAGE_H_
#define TESTS_DEVICE_SECURE_SECURE_TEST_STORAGE_H_

#include <string.h>

#include "secure/tn_secure.h"

#define TEST_REGIONS 6
#define TEST_REGION_CAP 128

typedef struct test_region {
  char name[16];
  int used;
  size_t len;
  uint8_t data[TEST_REGION_CAP];
} test_region;

typedef struct test_storage {
  test_region regions[TEST_REGIONS];
  int writes;      /* successful writes */
  int fail_writes; /* writes fail with TN_ERR_STORAGE while set */
  int fail_reads;  /* reads fail with TN_ERR_STORAGE while set */
} test_storage;

static test_region* test_find(test_storage* s, const char* name) {
  for (int i = 0; i < TEST_REGIONS; ++i) {
    if (s->regions[i].used && strcmp(s->regions[i].name, name) == 0) {
      return &s->regions[i];
    }
  }
  return NULL;
}

static tn_status test_read(void* ctx, const char* name, uint8_t* buf,
                           size_t cap, size_t* len) {
  test_storage* s = (test_storage*)ctx;
  if (s->fail_reads) return TN_ERR_STORAGE;
  test_region* r = test_find(s, name);
  if (r == NULL) return TN_ERR_NOT_FOUND;
  if (r->len > cap) return TN_ERR_BUFFER_TOO_SMALL;
  memcpy(buf, r->data, r->len);
  *len = r->len;
  return TN_OK;
}

static tn_status test_write(void* ctx, const char* name, const uint8_t* data,
                            size_t len) {
  test_storage* s = (test_storage*)ctx;
  if (s->fail_writes) return TN_ERR_STORAGE;
  if (len > TEST_REGION_CAP || strlen(name) > 15) return TN_ERR_ARG;
  test_region* r = test_find(s, name);
  for (int i = 0; r == NULL && i < TEST_REGIONS; ++i) {
    if (!s->regions[i].used) {
      r = &s->regions[i];
      memset(r, 0, sizeof(*r));
      strcpy(r->name, name);
      r->used = 1;
    }
  }
  if (r == NULL) return TN_ERR_STORAGE;
  memcpy(r->data, data, len);
  r->len = len;
  ++s->writes;
  return TN_OK;
}

static tn_secure_storage test_storage_interface(test_storage* s) {
  tn_secure_storage i;
  i.ctx = s;
  i.read = test_read;
  i.write = test_write;
  return i;
}

/* Writes a region directly (for crafted or corrupt contents). */
static void test_put(test_storage* s, const char* name, const uint8_t* data,
                     size_t len) {
  int saved = s->fail_writes;
  s->fail_writes = 0;
  (void)test_write(s, name, data, len);
  s->fail_writes = saved;
}

/* Parses hex into out (exactly n bytes). */
static void test_hex(const char* hex, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = hex[2 * i + (size_t)k];
      v = v * 16u + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
    }
    out[i] = (uint8_t)v;
  }
}

#endif /* TESTS_DEVICE_SECURE_SECURE_TEST_STORAGE_H_ */
