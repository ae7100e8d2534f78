/* Names of tn_status and tn_target values, for logs and error messages. */
#include "base/tn_base.h"

const char* tn_status_str(tn_status status) {
  switch (status) {
#define TN_NAME(x) \
  case x:          \
    return #x
    TN_NAME(TN_OK);
    TN_NAME(TN_ERR_ARG);
    TN_NAME(TN_ERR_NULL);
    TN_NAME(TN_ERR_BUFFER_TOO_SMALL);
    TN_NAME(TN_ERR_UNSUPPORTED);
    TN_NAME(TN_ERR_STATE);
    TN_NAME(TN_ERR_OVERFLOW);
    TN_NAME(TN_ERR_INTERNAL);
    TN_NAME(TN_ERR_NOT_FOUND);
    TN_NAME(TN_ERR_BUSY);
    TN_NAME(TN_ERR_FRAME_CRC);
    TN_NAME(TN_ERR_FRAME_ENCODING);
    TN_NAME(TN_ERR_FRAME_TRUNCATED);
    TN_NAME(TN_ERR_FRAME_OVERSIZE);
    TN_NAME(TN_ERR_MSG_TYPE);
    TN_NAME(TN_ERR_MSG_MALFORMED);
    TN_NAME(TN_ERR_SEQUENCE);
    TN_NAME(TN_ERR_PROTOCOL_VERSION);
    TN_NAME(TN_ERR_TIMEOUT);
    TN_NAME(TN_ERR_FRAME_LENGTH);
    TN_NAME(TN_ERR_BLOB_MAGIC);
    TN_NAME(TN_ERR_BLOB_VERSION);
    TN_NAME(TN_ERR_BLOB_TRUNCATED);
    TN_NAME(TN_ERR_BLOB_BOUNDS);
    TN_NAME(TN_ERR_BLOB_CHECKSUM);
    TN_NAME(TN_ERR_BLOB_SIGNATURE);
    TN_NAME(TN_ERR_BLOB_TARGET);
    TN_NAME(TN_ERR_BLOB_GRAPH);
    TN_NAME(TN_ERR_BLOB_SHAPE);
    TN_NAME(TN_ERR_BLOB_QUANT);
    TN_NAME(TN_ERR_MEMORY_BUDGET);
    TN_NAME(TN_ERR_ROLLBACK);
    TN_NAME(TN_ERR_BLOB_PLAN);
    TN_NAME(TN_ERR_NUMERIC);
    TN_NAME(TN_ERR_REPLAY_FULL);
    TN_NAME(TN_ERR_AUTH);
    TN_NAME(TN_ERR_REPLAY);
    TN_NAME(TN_ERR_CRYPTO);
    TN_NAME(TN_ERR_KEY_INVALID);
    TN_NAME(TN_ERR_NO_KEY);
    TN_NAME(TN_ERR_STORAGE);
    TN_NAME(TN_ERR_SLOT);
    TN_NAME(TN_ERR_SELFTEST);
    TN_NAME(TN_ERR_OTA_OFFSET);
    TN_NAME(TN_ERR_OTA_SIZE);
    TN_NAME(TN_ERR_OTA_INCOMPLETE);
    TN_NAME(TN_ERR_OTA_TRIAL_RESET);
#undef TN_NAME
  }
  return "TN_ERR_UNKNOWN";
}

const char* tn_target_str(tn_target target) {
  switch (target) {
    case TN_TARGET_HOST:
      return "host";
    case TN_TARGET_GAP8:
      return "gap8";
    case TN_TARGET_GAP9:
      return "gap9";
    case TN_TARGET_UNSPECIFIED:
      break;
  }
  return "unspecified";
}
