// The dashboard's files (the Vite bundle of dashboard/), embedded into the
// gateway at build time by dashboard/embed.cmake.
#ifndef TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_
#define TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_

#include <string_view>
#include <vector>

#include "server/http/http_server.h"

namespace tinyfleet::http {

struct DashboardAsset {
  std::string_view path;  // "/index.html", "/assets/index-3f9a.js"
  std::string_view content_type;
  std::string_view body;
  // Named by content hash: safe to cache for good.
  bool immutable = false;
};

// Every file of the bundle; static storage. Defined by the generated
// source of the tf_dashboard library.
const std::vector<DashboardAsset>& DashboardAssets();

// Serves `assets` on `server`: each at its path, /index.html also at /.
// Hashed files are cacheable for good, the rest revalidated; pages carry a
// content security policy that allows only this origin's scripts, styles
// and connections. `assets` must outlive the server.
void ServeDashboard(HttpServer* server,
                    const std::vector<DashboardAsset>& assets);

}  // namespace tinyfleet::http

#endif  // TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_
