// Routes for the embedded dashboard bundle (see dashboard_assets.h).
#include "server/http/dashboard_assets.h"

namespace tinyfleet::http {

namespace {

// Scripts, styles and connections from this origin only; inline style
// attributes are allowed because the chart library sizes its canvas with
// them. No framing (clickjacking), no plugins, no base-URI tricks.
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

}  // namespace

void ServeDashboard(HttpServer* server,
                    const std::vector<DashboardAsset>& assets) {
  for (const auto& asset : assets) {
    const DashboardAsset* a = &asset;
    bool page = asset.content_type.rfind("text/html", 0) == 0;
    Headers headers = {
        {"Cache-Control",
         asset.immutable ? "public, max-age=31536000, immutable" : "no-cache"},
        {"Referrer-Policy", "no-referrer"},
    };
    if (page) {
      headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
      headers.emplace_back("X-Frame-Options", "DENY");
    }
    Handler handler = [a, headers](const Request&) {
      return Response{200, std::string(a->content_type), std::string(a->body),
                      headers};
    };
    server->Route(std::string(asset.path), handler);
    if (asset.path == "/index.html") server->Route("/", handler);
  }
}

}  // namespace tinyfleet::http
