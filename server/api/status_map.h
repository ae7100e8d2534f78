// The one mapping from tinyfleet Status to grpc::Status (the API edge).
#ifndef TINYFLEET_SERVER_API_STATUS_MAP_H_
#define TINYFLEET_SERVER_API_STATUS_MAP_H_

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace tinyfleet::api {

grpc::Status ToGrpc(const Status& status);

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_STATUS_MAP_H_
