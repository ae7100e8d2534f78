/*
 * File-backed slot flash for host builds: slot i is the file
 * <dir>/slot<i>.bin. A file grows as it is written (gaps filled with 0xFF)
 * and bytes past its end read as 0xFF, like erased flash. Every write is
 * flushed to the operating system before it returns, so the bytes survive
 * the process being killed. ISO C stdio only; the directory is created by
 * the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ota/tn_ota.h"

/* Room kept after the directory for "/slot<i>.bin" and the NUL. */
#define FILE_SUFFIX_ROOM 16u
/* Bytes of 0xFF written per call when a file is extended. */
#define FILL_BLOCK 256u
/* Largest slot: offsets must fit a long on every host. */
#define FILE_SLOT_MAX 0x7FFFFFFFu

tn_status tn_ota_file_flash_init(tn_ota_file_flash* ff, const char* dir,
                                 uint8_t slot_count, uint32_t slot_size) {
  if (ff == NULL || dir == NULL) return TN_ERR_NULL;
  size_t n = strlen(dir);
  if (n == 0 || n > TN_OTA_PATH_MAX - FILE_SUFFIX_ROOM) return TN_ERR_ARG;
  if (slot_count < TN_OTA_MIN_SLOTS || slot_count > TN_OTA_MAX_SLOTS ||
      slot_size == 0 || slot_size > FILE_SLOT_MAX) {
    return TN_ERR_ARG;
  }
  memcpy(ff->dir, dir, n + 1);
  ff->slot_count = slot_count;
  ff->slot_size = slot_size;
  return TN_OK;
}

/* "<dir>/slot<i>.bin" into path (TN_OTA_PATH_MAX bytes). REQUIRES: slot < 10
 * and a directory that tn_ota_file_flash_init accepted. */
static void slot_path(const tn_ota_file_flash* ff, uint8_t slot, char* path) {
  size_t d = strlen(ff->dir);
  memcpy(path, ff->dir, d);
  memcpy(path + d, "/slot0.bin", 11);
  path[d + 5] = (char)('0' + slot);
}

static int in_range(const tn_ota_file_flash* ff, uint8_t slot, uint32_t offset,
                    uint32_t len) {
  return slot < ff->slot_count && offset <= ff->slot_size &&
         len <= ff->slot_size - offset;
}

static tn_status file_read(void* ctx, uint8_t slot, uint32_t offset,
                           uint8_t* buf, uint32_t len) {
  const tn_ota_file_flash* ff = (const tn_ota_file_flash*)ctx;
  if (!in_range(ff, slot, offset, len) || (buf == NULL && len > 0)) {
    return TN_ERR_STORAGE;
  }
  if (len == 0) return TN_OK;
  char path[TN_OTA_PATH_MAX];
  slot_path(ff, slot, path);
  errno = 0;
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
#ifdef ENOENT
    if (errno != ENOENT) return TN_ERR_STORAGE;
#endif
    memset(buf, 0xFF, len); /* never written */
    return TN_OK;
  }
  size_t got = 0;
  int failed = fseek(f, (long)offset, SEEK_SET) != 0;
  if (!failed) {
    got = fread(buf, 1, len, f);
    failed = ferror(f) != 0;
  }
  fclose(f);
  if (failed) return TN_ERR_STORAGE;
  if (got < len) memset(buf + got, 0xFF, len - got); /* past the end */
  return TN_OK;
}

static tn_status file_write(void* ctx, uint8_t slot, uint32_t offset,
                            const uint8_t* data, uint32_t len) {
  const tn_ota_file_flash* ff = (const tn_ota_file_flash*)ctx;
  if (!in_range(ff, slot, offset, len) || (data == NULL && len > 0)) {
    return TN_ERR_STORAGE;
  }
  char path[TN_OTA_PATH_MAX];
  slot_path(ff, slot, path);
  errno = 0;
  FILE* f = fopen(path, "r+b");
#ifdef ENOENT
  if (f == NULL && errno == ENOENT) f = fopen(path, "w+b");
#endif
  if (f == NULL) return TN_ERR_STORAGE;
  int failed = fseek(f, 0, SEEK_END) != 0;
  long size = failed ? -1 : ftell(f);
  failed = failed || size < 0;
  /* Extend with erased bytes up to `offset`: at most slot_size / FILL_BLOCK
   * + 1 writes. */
  uint8_t fill[FILL_BLOCK];
  memset(fill, 0xFF, sizeof(fill));
  while (!failed && (uint64_t)size < offset) {
    uint64_t gap = (uint64_t)offset - (uint64_t)size;
    size_t n = gap < FILL_BLOCK ? (size_t)gap : FILL_BLOCK;
    failed = fwrite(fill, 1, n, f) != n;
    size += (long)n;
  }
  if (!failed) failed = fseek(f, (long)offset, SEEK_SET) != 0;
  if (!failed && len > 0) failed = fwrite(data, 1, len, f) != len;
  failed = fflush(f) != 0 || failed;
  failed = fclose(f) != 0 || failed;
  return failed ? TN_ERR_STORAGE : TN_OK;
}

tn_ota_flash tn_ota_file_flash_interface(tn_ota_file_flash* ff) {
  tn_ota_flash f;
  memset(&f, 0, sizeof(f));
  f.ctx = ff;
  if (ff == NULL) return f;
  f.slot_count = ff->slot_count;
  f.slot_size = ff->slot_size;
  f.erase_size = 0;
  f.read = file_read;
  f.write = file_write;
  return f;
}
