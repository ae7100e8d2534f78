/*
 * In-memory slot flash over caller memory, for tests and simulations. With
 * an erase size it models NOR flash: erase sets 0xFF and writes can only
 * clear bits (new = old AND data), so a write to a byte that was not erased
 * since its last write corrupts it, as it would on the device.
 */
#include <string.h>

#include "ota/tn_ota.h"

tn_status tn_ota_mem_flash_init(tn_ota_mem_flash* mem, uint8_t* data,
                                uint8_t slot_count, uint32_t slot_size,
                                uint32_t erase_size) {
  if (mem == NULL || data == NULL) return TN_ERR_NULL;
  if (slot_count < TN_OTA_MIN_SLOTS || slot_count > TN_OTA_MAX_SLOTS ||
      slot_size == 0 || (erase_size != 0 && slot_size % erase_size != 0)) {
    return TN_ERR_ARG;
  }
  mem->data = data;
  mem->slot_count = slot_count;
  mem->slot_size = slot_size;
  mem->erase_size = erase_size;
  mem->writes = 0;
  mem->erases = 0;
  memset(data, 0xFF, (size_t)slot_count * slot_size);
  return TN_OK;
}

/* The bytes [offset, offset + len) of `slot`, or NULL when out of range. */
static uint8_t* at(tn_ota_mem_flash* mem, uint8_t slot, uint32_t offset,
                   uint32_t len) {
  if (slot >= mem->slot_count || offset > mem->slot_size ||
      len > mem->slot_size - offset) {
    return NULL;
  }
  return mem->data + (size_t)slot * mem->slot_size + offset;
}

static tn_status mem_read(void* ctx, uint8_t slot, uint32_t offset,
                          uint8_t* buf, uint32_t len) {
  tn_ota_mem_flash* mem = (tn_ota_mem_flash*)ctx;
  uint8_t* p = at(mem, slot, offset, len);
  if (p == NULL || (buf == NULL && len > 0)) return TN_ERR_STORAGE;
  if (len > 0) memcpy(buf, p, len);
  return TN_OK;
}

static tn_status mem_write(void* ctx, uint8_t slot, uint32_t offset,
                           const uint8_t* data, uint32_t len) {
  tn_ota_mem_flash* mem = (tn_ota_mem_flash*)ctx;
  uint8_t* p = at(mem, slot, offset, len);
  if (p == NULL || (data == NULL && len > 0)) return TN_ERR_STORAGE;
  ++mem->writes;
  if (mem->erase_size == 0) {
    if (len > 0) memcpy(p, data, len);
  } else {
    for (uint32_t i = 0; i < len; ++i) p[i] &= data[i];
  }
  return TN_OK;
}

static tn_status mem_erase(void* ctx, uint8_t slot, uint32_t offset,
                           uint32_t len) {
  tn_ota_mem_flash* mem = (tn_ota_mem_flash*)ctx;
  uint8_t* p = at(mem, slot, offset, len);
  if (p == NULL) return TN_ERR_STORAGE;
  if (mem->erase_size != 0 &&
      (offset % mem->erase_size != 0 || len % mem->erase_size != 0)) {
    return TN_ERR_STORAGE;
  }
  ++mem->erases;
  memset(p, 0xFF, len);
  return TN_OK;
}

static const uint8_t* mem_map(void* ctx, uint8_t slot) {
  tn_ota_mem_flash* mem = (tn_ota_mem_flash*)ctx;
  return at(mem, slot, 0, mem->slot_size);
}

tn_ota_flash tn_ota_mem_flash_interface(tn_ota_mem_flash* mem) {
  tn_ota_flash f;
  memset(&f, 0, sizeof(f));
  f.ctx = mem;
  if (mem == NULL) return f;
  f.slot_count = mem->slot_count;
  f.slot_size = mem->slot_size;
  f.erase_size = mem->erase_size;
  f.read = mem_read;
  f.write = mem_write;
  f.erase = mem_erase;
  f.map = mem_map;
  return f;
}
