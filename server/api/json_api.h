// The JSON side of the operator API, served on the gateway's HTTP port for
// the dashboard. Same bearer tokens and roles as FleetService (reads need
// role viewer, the POST actions role operator); bodies are the API's proto
// messages in their JSON form (proto field names), errors are
// {"code": "...", "message": "..."} with the HTTP status from
// HttpStatusFor().
//
//   GET /api/v1/whoami                   the caller's token (name, role)
//   GET /api/v1/devices                  ListDevices: label_selector,
//                                        connectivity, lifecycle, page_size,
//                                        page_token
//   GET /api/v1/devices/<id>             GetDevice
//   GET /api/v1/telemetry                QueryTelemetry: device_id, metric,
//                                        start, end (RFC 3339 or unix ms),
//                                        aggregation, step ("60s"), limit
//   GET /api/v1/models                   ListModels: name, page_size,
//                                        page_token
//   GET /api/v1/rollouts[/<id>]          ListRollouts / GetRollout
//   POST /api/v1/rollouts/<id>/pause     PauseRollout, ResumeRollout,
//   POST /api/v1/rollouts/<id>/resume    AbortRollout (role operator); an
//   POST /api/v1/rollouts/<id>/abort     optional application/json body
//                                        {"reason": "..."}; without one the
//                                        reason names the operator. Answers
//                                        the rollout after the change.
//   GET /api/v1/rounds[/<id>]            ListRounds: page_size, page_token /
//                                        GetRound
//   GET /api/v1/events/ticket            a ticket for one event stream
//   GET /api/v1/events                   Server-Sent Events: WatchEvents
//   GET /api/v1/events/recent            events still kept by the gateway:
//                                        device_id, kinds, limit
//
// Requests carry the token in the Authorization header, which a browser
// never adds by itself: another site's page cannot make a signed-in
// browser act here (no cookies, so no cross-site request forgery).
//
// Event streams and credentials: a browser's EventSource cannot send an
// Authorization header, so the page first asks /api/v1/events/ticket (with
// its bearer token) for a ticket: 32 random bytes, valid for 30 s and for
// one stream only, held in memory; it opens /api/v1/events?ticket=…. The
// long-lived token never appears in a URL (where proxies and logs could
// keep it); a leaked ticket is worth at most one read-only stream opened
// within its 30 s. Streams end after 10 minutes and the page reconnects with
// a fresh ticket, so a revoked token loses its stream within that time.
// Non-browser clients may send the Authorization header instead.
//
// Stream frames: "event: <device|rollout|round|model>", "id: <sequence>",
// "data: <Event as JSON>". First comes "event: hello" with
// {"last_sequence": N}; "event: reset" with {"last_sequence": N, "reason"}
// says events after the requested sequence are gone (the client should
// re-list, then continue from N). Resume with ?after_sequence=N or the
// Last-Event-ID header.
#ifndef TINYFLEET_SERVER_API_JSON_API_H_
#define TINYFLEET_SERVER_API_JSON_API_H_

#include "common/clock.h"
#include "server/adapt/adapt.h"
#include "server/api/auth.h"
#include "server/catalog/model_catalog.h"
#include "server/events/event_bus.h"
#include "server/fleet/registry.h"
#include "server/http/http_server.h"
#include "server/ota/rollout_engine.h"
#include "server/store/store.h"

namespace tinyfleet::api {

// What the JSON API reads besides the registry. A null source makes its
// routes answer UNIMPLEMENTED (501).
struct JsonApiSources {
  // Event streams and recent events.
  events::EventBus* events = nullptr;
  // Telemetry queries.
  store::TelemetryRepository* telemetry = nullptr;
  // Model versions (the dashboard names slots "name:version" with them).
  catalog::ModelCatalog* catalog = nullptr;
  // Rollouts.
  ota::RolloutEngine* rollouts = nullptr;
  // Ticket lifetimes and default telemetry ranges; null: the system clock.
  const Clock* clock = nullptr;
  // Adaptation rounds.
  adapt::RoundEngine* rounds = nullptr;
};

// Registers the routes; every pointer must outlive the server.
void RegisterJsonApi(http::HttpServer* server, fleet::Registry* registry,
                     Authenticator* auth, const JsonApiSources& sources = {});

// The HTTP status for a Status (the JSON API's one mapping).
int HttpStatusFor(const Status& status);

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_JSON_API_H_
