// The JSON side of the operator API, served on the gateway's HTTP port for
// the dashboard: GET /api/v1/devices (ListDevices) and
// GET /api/v1/devices/<id>... as the dashboard grows. Same bearer tokens and
// roles as FleetService; bodies are the proto messages in their JSON form.
#ifndef TINYFLEET_SERVER_API_JSON_API_H_
#define TINYFLEET_SERVER_API_JSON_API_H_

#include "server/api/auth.h"
#include "server/fleet/registry.h"
#include "server/http/http_server.h"

namespace tinyfleet::api {

// Registers the routes; both pointers must outlive the server.
void RegisterJsonApi(http::HttpServer* server, fleet::Registry* registry,
                     Authenticator* auth);

// The HTTP status for a Status (the JSON API's one mapping).
int HttpStatusFor(const Status& status);

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_JSON_API_H_
