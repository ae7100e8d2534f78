#include "server/main/gateway.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/pki.h"
#include "server/adapt/adapt.h"
#include "server/api/agent_service.h"
#include "server/api/auth.h"
#include "server/api/fleet_service.h"
#include "server/api/json_api.h"
#include "server/api/rpc_metrics.h"
#include "server/catalog/model_catalog.h"
#include "server/fleet/registry.h"
#include "server/http/dashboard_assets.h"
#include "server/http/http_server.h"
#include "server/metrics/fleet_gauges.h"
#include "server/ota/artifact_store.h"
#include "server/ota/rollout_engine.h"
#include "server/store/sqlite_store.h"
#include "server/telemetry/ingest.h"
#include "server/telemetry/telemetry_key.h"

namespace tinyfleet::gateway {

struct Gateway::Impl {
  GatewayOptions options;
  const Clock* clock = nullptr;
  std::shared_ptr<prometheus::Registry> metrics;
  std::unique_ptr<events::EventBus> events;
  std::unique_ptr<store::Store> store;
  pki::GatewayPki pki;
  telemetry::GatewayTelemetryKey telemetry_key;
  std::unique_ptr<telemetry::TelemetryIngest> ingest;
  uint64_t ingest_forget_subscription = 0;
  catalog::SigningKey signing_key;
  std::unique_ptr<ota::ArtifactStore> artifacts;
  std::unique_ptr<catalog::ModelCatalog> catalog;
  std::unique_ptr<ota::RolloutEngine> rollouts;
  std::unique_ptr<adapt::Dispatcher> round_dispatcher;
  std::unique_ptr<adapt::RoundEngine> rounds;
  std::unique_ptr<metrics::FleetGauges> fleet_gauges;
  std::unique_ptr<fleet::Registry> registry;
  std::unique_ptr<api::Authenticator> auth;
  std::unique_ptr<boost::asio::thread_pool> pool;
  std::unique_ptr<api::FleetService> fleet_service;
  std::unique_ptr<api::AgentService> agent_service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<http::HttpServer> http;
  int grpc_port = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  bool stopped = false;   // guarded by mu
  std::thread sweeper;
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { Shutdown(); }

Result<std::unique_ptr<Gateway>> Gateway::Start(const GatewayOptions& options,
                                                const Clock* clock) {
  if (options.data_dir.empty()) {
    return InvalidArgumentError("a data directory is required");
  }
  if (options.max_message_bytes < 64 * 1024) {
    return InvalidArgumentError("max message size must be at least 64 KiB");
  }
  if (options.worker_threads < 1 || options.worker_threads > 64) {
    return InvalidArgumentError("worker threads must be 1..64");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->clock = clock;
  GatewayOptions& opt = impl->options;
  if (opt.pki_dir.empty()) opt.pki_dir = opt.data_dir / "pki";
  if (opt.admin_token_file.empty())
    opt.admin_token_file = opt.data_dir / "admin.token";
  if (opt.sweep_interval.count() < 0)
    opt.sweep_interval = opt.heartbeat_interval;

  std::error_code ec;
  std::filesystem::create_directories(opt.data_dir, ec);
  if (ec) {
    return UnavailableError("cannot create data directory " +
                            opt.data_dir.string() + ": " + ec.message());
  }
  impl->metrics = std::make_shared<prometheus::Registry>();
  impl->events = std::make_unique<events::EventBus>(clock);
  TF_ASSIGN_OR_RETURN(impl->store, store::OpenSqliteStore(
                                       {opt.data_dir / "gateway.db"}, *clock));
  TF_ASSIGN_OR_RETURN(impl->pki, pki::LoadOrCreateGatewayPki(
                                     opt.pki_dir, opt.tls_hosts, *clock));

  TF_ASSIGN_OR_RETURN(
      impl->telemetry_key,
      telemetry::GatewayTelemetryKey::LoadOrCreate(opt.pki_dir));
  TF_ASSIGN_OR_RETURN(impl->ingest, telemetry::TelemetryIngest::Create(
                                        impl->store.get(), &impl->telemetry_key,
                                        clock, impl->metrics.get()));
  // A decommissioned device's cached ingest state (its telemetry key) goes
  // with it. Decommissions come from the APIs only, which stop before the
  // ingest does (Shutdown).
  TF_ASSIGN_OR_RETURN(
      impl->ingest_forget_subscription,
      impl->events->Subscribe(
          0, [ingest = impl->ingest.get()](const v1::Event& e) {
            if (e.has_device() && e.device().change() == "decommissioned")
              ingest->Forget(e.device().device_id());
          }));

  TF_ASSIGN_OR_RETURN(impl->signing_key,
                      catalog::SigningKey::LoadOrCreate(opt.pki_dir));
  TF_ASSIGN_OR_RETURN(impl->artifacts,
                      ota::ArtifactStore::Open(opt.data_dir / "artifacts",
                                               &impl->store->artifacts(), clock,
                                               impl->metrics.get()));

  fleet::RegistryOptions ropt;
  ropt.heartbeat_interval = opt.heartbeat_interval;
  ropt.missed_heartbeats_offline = opt.missed_heartbeats_offline;
  TF_ASSIGN_OR_RETURN(
      impl->registry,
      fleet::Registry::Create(impl->store.get(), impl->pki.ca.get(), clock,
                              impl->metrics.get(), ropt, impl->events.get()));
  TF_ASSIGN_OR_RETURN(impl->catalog,
                      catalog::ModelCatalog::Create(
                          impl->store.get(), impl->artifacts.get(),
                          &impl->signing_key, impl->events.get(), clock));
  ota::RolloutEngineOptions rollout_opt;
  // Evaluations after final progress reports run on the worker pool,
  // coalesced per rollout. Reports arrive only once the server runs, and
  // the pool exists by then.
  rollout_opt.defer = [raw = impl.get()](std::function<void()> fn) {
    boost::asio::post(*raw->pool, std::move(fn));
  };
  TF_ASSIGN_OR_RETURN(
      impl->rollouts,
      ota::RolloutEngine::Create(impl->store.get(), impl->registry.get(),
                                 impl->artifacts.get(), impl->events.get(),
                                 clock, rollout_opt));
  impl->round_dispatcher = adapt::RegistryDispatcher(impl->registry.get());
  adapt::RoundEngineOptions round_opt;
  round_opt.datasets_dir = opt.data_dir / "datasets";
  TF_ASSIGN_OR_RETURN(
      impl->rounds,
      adapt::RoundEngine::Create(
          impl->store.get(), impl->round_dispatcher.get(),
          impl->artifacts.get(), impl->catalog.get(), impl->events.get(), clock,
          round_opt, impl->rollouts.get()));
  TF_ASSIGN_OR_RETURN(impl->fleet_gauges,
                      metrics::FleetGauges::Create(impl->store.get(),
                                                   impl->metrics.get(), clock));
  (void)impl->fleet_gauges->Refresh(/*force=*/true);
  impl->auth = std::make_unique<api::Authenticator>(
      &impl->store->operator_tokens(), clock);
  TF_ASSIGN_OR_RETURN(bool created,
                      impl->auth->EnsureAdmin(opt.admin_token_file));
  (void)created;

  impl->pool = std::make_unique<boost::asio::thread_pool>(opt.worker_threads);
  impl->fleet_service = std::make_unique<api::FleetService>(
      impl->registry.get(), impl->auth.get(), impl->events.get(),
      &impl->store->telemetry(), clock);
  impl->fleet_service->SetCatalog(impl->catalog.get(),
                                  opt.data_dir / "datasets");
  impl->fleet_service->SetRollouts(impl->rollouts.get());
  impl->fleet_service->SetRounds(impl->rounds.get());
  api::AgentServiceOptions aopt;
  aopt.insecure_identity = opt.insecure_dev;
  aopt.gateway_telemetry_public_key = impl->telemetry_key.public_key;
  aopt.ingest = impl->ingest.get();
  aopt.artifacts = impl->artifacts.get();
  aopt.rollouts = impl->rollouts.get();
  aopt.rounds = impl->rounds.get();
  aopt.model_signing_public_key = impl->signing_key.public_point;
  impl->agent_service = std::make_unique<api::AgentService>(
      impl->registry.get(), impl->pool.get(), aopt);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (opt.insecure_dev) {
    TF_LOG(kWarning, "gateway")
        << "--insecure-dev: gRPC without TLS; device identities are not "
           "authenticated. Never use this outside development.";
    creds = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = impl->pki.ca->certificate_pem();
    ssl.pem_key_cert_pairs.push_back(
        {impl->pki.server_key_pem, impl->pki.server_cert_pem});
    creds = grpc::SslServerCredentials(ssl);
  }
  std::string addr = opt.grpc_host + ":" + std::to_string(opt.grpc_port);
  builder.AddListeningPort(addr, creds, &impl->grpc_port);
  builder.SetMaxReceiveMessageSize(opt.max_message_bytes);
  builder.SetMaxSendMessageSize(opt.max_message_bytes);
  // Keepalive pings let the gateway notice dead peers even without
  // heartbeats; agents may ping every 20 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(impl->fleet_service.get());
  builder.RegisterService(impl->agent_service.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      api::MakeRpcMetricsInterceptorFactory(impl->metrics.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->grpc_port == 0) {
    return UnavailableError("cannot listen for gRPC on " + addr);
  }

  TF_ASSIGN_OR_RETURN(impl->http,
                      http::HttpServer::Bind(opt.http_host, opt.http_port));
  std::weak_ptr<prometheus::Registry> weak_metrics = impl->metrics;
  impl->http->Route("/metrics", [weak_metrics](const http::Request&) {
    http::Response r;
    auto m = weak_metrics.lock();
    if (!m) return http::Response{503, "text/plain", "shutting down\n"};
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = prometheus::TextSerializer().Serialize(m->Collect());
    return r;
  });
  impl->http->Route("/healthz", [](const http::Request&) {
    return http::Response{200, "text/plain", "ok\n"};
  });
  http::ServeDashboard(impl->http.get(), http::DashboardAssets());
  api::RegisterJsonApi(
      impl->http.get(), impl->registry.get(), impl->auth.get(),
      {impl->events.get(), &impl->store->telemetry(), impl->catalog.get(),
       impl->rollouts.get(), clock, impl->rounds.get()});
  impl->http->Start();

  Impl* raw = impl.get();
  if (opt.sweep_interval.count() > 0) {
    raw->sweeper = std::thread([raw] {
      std::unique_lock<std::mutex> lock(raw->mu);
      auto last_downsample = raw->clock->SteadyNow();
      while (!raw->stopping) {
        raw->cv.wait_for(lock, raw->options.sweep_interval);
        if (raw->stopping) break;
        lock.unlock();
        raw->registry->Sweep();
        raw->rollouts->Tick();
        raw->rounds->Tick();
        (void)raw->fleet_gauges->Refresh();
        if (raw->clock->SteadyNow() - last_downsample >
            std::chrono::minutes(1)) {
          last_downsample = raw->clock->SteadyNow();
          auto n = raw->store->telemetry().Downsample(
              raw->clock->NowUnixMillis() -
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  raw->options.telemetry_raw_retention)
                  .count());
          if (!n.ok()) {
            TF_LOG(kWarning, "gateway")
                << "telemetry downsampling failed: " << n.status().ToString();
          }
        }
        lock.lock();
      }
    });
  }
  TF_LOG(kInfo, "gateway") << "gRPC on " << opt.grpc_host << ":"
                           << raw->grpc_port
                           << (opt.insecure_dev ? " (insecure)" : " (TLS)")
                           << ", HTTP on " << opt.http_host << ":"
                           << raw->http->port();
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

uint16_t Gateway::grpc_port() const {
  return static_cast<uint16_t>(impl_->grpc_port);
}
uint16_t Gateway::http_port() const { return impl_->http->port(); }
const std::string& Gateway::ca_certificate_pem() const {
  return impl_->pki.ca->certificate_pem();
}
const std::filesystem::path& Gateway::admin_token_file() const {
  return impl_->options.admin_token_file;
}
fleet::Registry& Gateway::registry() { return *impl_->registry; }

ota::ArtifactStore& Gateway::artifacts() { return *impl_->artifacts; }

void Gateway::TickRollouts() { impl_->rollouts->Tick(); }

void Gateway::TickRounds() { impl_->rounds->Tick(); }

Result<uint64_t> Gateway::DownsampleTelemetry() {
  return impl_->store->telemetry().Downsample(
      impl_->clock->NowUnixMillis() -
      std::chrono::duration_cast<std::chrono::milliseconds>(
          impl_->options.telemetry_raw_retention)
          .count());
}
size_t Gateway::Sweep() { return impl_->registry->Sweep(); }

void Gateway::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->stopping; });
}

void Gateway::Shutdown() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() +
                            std::chrono::seconds(2));
    impl_->server->Wait();
  }
  if (impl_->pool) impl_->pool->join();
  impl_->events->Unsubscribe(impl_->ingest_forget_subscription);
  impl_->ingest.reset();  // drains queued records
  if (impl_->http) impl_->http->Stop();
  // Persist last-seen times of everything still buffered.
  impl_->registry->Sweep();
  TF_LOG(kInfo, "gateway") << "stopped";
}

}  // namespace tinyfleet::gateway
