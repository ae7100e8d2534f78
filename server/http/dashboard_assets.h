// The dashboard's static files (dashboard/src), embedded at build time.
#ifndef TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_
#define TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_

#include <string_view>
#include <vector>

namespace tinyfleet::http {

struct DashboardAsset {
  std::string_view path;  // "/index.html"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<DashboardAsset>& DashboardAssets();

}  // namespace tinyfleet::http

#endif  // TINYFLEET_SERVER_HTTP_DASHBOARD_ASSETS_H_
