#include "server/api/status_map.h"

namespace tinyfleet::api {

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // The canonical codes share their numbering with gRPC's.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      status.message());
}

}  // namespace tinyfleet::api
