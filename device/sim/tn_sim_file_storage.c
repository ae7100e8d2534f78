/*
 * File-backed storage for host builds: each region is the file
 * <dir>/<name>.bin, replaced whole by writing <name>.bin.tmp and renaming it
 * over the old file, so a crash leaves either the old or the new contents.
 * Uses ISO C stdio only; the directory is created by the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim/tn_sim.h"

/* Room kept after the directory for "/" + name + ".bin.tmp" + NUL. */
#define FILE_SUFFIX_ROOM 32u

tn_status tn_sim_file_storage_init(tn_sim_file_storage* fs, const char* dir) {
  if (fs == NULL || dir == NULL) return TN_ERR_NULL;
  size_t n = strlen(dir);
  if (n == 0 || n > TN_SIM_PATH_MAX - FILE_SUFFIX_ROOM) return TN_ERR_ARG;
  memcpy(fs->dir, dir, n + 1);
  return TN_OK;
}

/* Writes "<dir>/<name><suffix>" into path (TN_SIM_PATH_MAX bytes).
 * REQUIRES: a valid region name and a suffix shorter than 16 bytes, which
 * fit in the FILE_SUFFIX_ROOM that tn_sim_file_storage_init leaves. */
static void region_path(const tn_sim_file_storage* fs, const char* name,
                        const char* suffix, char* path) {
  size_t d = strlen(fs->dir);
  size_t n = strlen(name);
  size_t x = strlen(suffix);
  memcpy(path, fs->dir, d);
  path[d] = '/';
  memcpy(path + d + 1, name, n);
  memcpy(path + d + 1 + n, suffix, x + 1);
}

static tn_status file_read(void* ctx, const char* name, uint8_t* buf,
                           size_t cap, size_t* len) {
  const tn_sim_file_storage* fs = (const tn_sim_file_storage*)ctx;
  if (fs == NULL || len == NULL || (buf == NULL && cap > 0)) {
    return TN_ERR_NULL;
  }
  if (!tn_sim_region_name_ok(name)) return TN_ERR_ARG;
  char path[TN_SIM_PATH_MAX];
  region_path(fs, name, ".bin", path);
  errno = 0;
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
#ifdef ENOENT
    if (errno != ENOENT) return TN_ERR_STORAGE;
#endif
    return TN_ERR_NOT_FOUND;
  }
  size_t n = cap > 0 ? fread(buf, 1, cap, f) : 0;
  int failed = ferror(f);
  /* One byte more than cap means the region does not fit. */
  uint8_t extra;
  int more = !failed && fread(&extra, 1, 1, f) == 1;
  failed = failed || ferror(f);
  fclose(f);
  if (failed) return TN_ERR_STORAGE;
  if (more) return TN_ERR_BUFFER_TOO_SMALL;
  *len = n;
  return TN_OK;
}

static tn_status file_write(void* ctx, const char* name, const uint8_t* data,
                            size_t len) {
  const tn_sim_file_storage* fs = (const tn_sim_file_storage*)ctx;
  if (fs == NULL || (data == NULL && len > 0)) return TN_ERR_NULL;
  if (!tn_sim_region_name_ok(name)) return TN_ERR_ARG;
  if (len > TN_SIM_REGION_MAX) return TN_ERR_BUFFER_TOO_SMALL;
  char path[TN_SIM_PATH_MAX];
  char tmp[TN_SIM_PATH_MAX];
  region_path(fs, name, ".bin", path);
  region_path(fs, name, ".bin.tmp", tmp);
  FILE* f = fopen(tmp, "wb");
  if (f == NULL) return TN_ERR_STORAGE;
  int failed = len > 0 && fwrite(data, 1, len, f) != len;
  failed = fflush(f) != 0 || failed;
  failed = fclose(f) != 0 || failed;
  if (failed || rename(tmp, path) != 0) {
    remove(tmp);
    return TN_ERR_STORAGE;
  }
  return TN_OK;
}

tn_sim_storage tn_sim_file_storage_interface(tn_sim_file_storage* fs) {
  tn_sim_storage s;
  s.ctx = fs;
  s.read = file_read;
  s.write = file_write;
  return s;
}
