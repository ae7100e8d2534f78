/*
 * Region-name rules shared by every storage back end, and the in-memory
 * storage: a fixed table of named regions in caller memory, used by tests
 * (it runs under QEMU too) and by simulations that keep no files.
 */
#include <string.h>

#include "sim/tn_sim.h"

int tn_sim_region_name_ok(const char* name) {
  if (name == NULL) return 0;
  size_t n = 0;
  while (n <= TN_SIM_REGION_NAME_MAX && name[n] != '\0') {
    char c = name[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return 0;
    }
    ++n;
  }
  return n >= 1 && n <= TN_SIM_REGION_NAME_MAX;
}

void tn_sim_mem_storage_init(tn_sim_mem_storage* mem) {
  if (mem != NULL) memset(mem, 0, sizeof(*mem));
}

static tn_sim_mem_region* mem_find(tn_sim_mem_storage* mem, const char* name) {
  for (size_t i = 0; i < TN_SIM_MEM_REGIONS; ++i) {
    if (mem->regions[i].used && strcmp(mem->regions[i].name, name) == 0) {
      return &mem->regions[i];
    }
  }
  return NULL;
}

static tn_status mem_read(void* ctx, const char* name, uint8_t* buf, size_t cap,
                          size_t* len) {
  tn_sim_mem_storage* mem = (tn_sim_mem_storage*)ctx;
  if (mem == NULL || len == NULL || (buf == NULL && cap > 0)) {
    return TN_ERR_NULL;
  }
  if (!tn_sim_region_name_ok(name)) return TN_ERR_ARG;
  const tn_sim_mem_region* r = mem_find(mem, name);
  if (r == NULL) return TN_ERR_NOT_FOUND;
  if (r->len > cap) return TN_ERR_BUFFER_TOO_SMALL;
  if (r->len > 0) memcpy(buf, r->data, r->len);
  *len = r->len;
  return TN_OK;
}

static tn_status mem_write(void* ctx, const char* name, const uint8_t* data,
                           size_t len) {
  tn_sim_mem_storage* mem = (tn_sim_mem_storage*)ctx;
  if (mem == NULL || (data == NULL && len > 0)) return TN_ERR_NULL;
  if (!tn_sim_region_name_ok(name)) return TN_ERR_ARG;
  if (len > TN_SIM_REGION_MAX) return TN_ERR_BUFFER_TOO_SMALL;
  tn_sim_mem_region* r = mem_find(mem, name);
  for (size_t i = 0; r == NULL && i < TN_SIM_MEM_REGIONS; ++i) {
    if (!mem->regions[i].used) {
      r = &mem->regions[i];
      memset(r, 0, sizeof(*r));
      strcpy(r->name, name); /* length checked by tn_sim_region_name_ok */
    }
  }
  if (r == NULL) return TN_ERR_STORAGE;
  if (len > 0) memcpy(r->data, data, len);
  r->len = (uint16_t)len;
  r->used = 1;
  ++mem->writes;
  return TN_OK;
}

tn_sim_storage tn_sim_mem_storage_interface(tn_sim_mem_storage* mem) {
  tn_sim_storage s;
  s.ctx = mem;
  s.read = mem_read;
  s.write = mem_write;
  return s;
}
