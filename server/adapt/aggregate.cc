// Server-side aggregation rules of federated rounds: sample-weighted mean
// (FedAvg, FedProx), FedAdam's server optimizer, and the robust
// coordinate-wise median and trimmed mean, after optional L2 clipping of
// every client's delta.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "server/adapt/adapt.h"

namespace tinyfleet::adapt {
namespace {

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
void PutF32(std::string* s, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  PutU32(s, u);
}
float GetF32(const char* p) {
  uint32_t u = GetU32(p);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Sample-weighted mean, in client order.
std::vector<double> WeightedMean(const std::vector<ClientDelta>& clients,
                                 size_t n) {
  std::vector<double> sum(n, 0.0);
  double total = 0;
  for (const auto& c : clients) {
    double w = static_cast<double>(c.samples);
    total += w;
    for (size_t i = 0; i < n; ++i) sum[i] += w * c.delta[i];
  }
  for (double& x : sum) x /= total;
  return sum;
}

// Coordinate-wise: the sorted column, reduced by `reduce`.
template <typename Reduce>
std::vector<double> PerCoordinate(const std::vector<ClientDelta>& clients,
                                  size_t n, Reduce reduce) {
  std::vector<double> out(n);
  std::vector<float> column(clients.size());
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < clients.size(); ++k) column[k] = clients[k].delta[i];
    std::sort(column.begin(), column.end());
    out[i] = reduce(column);
  }
  return out;
}

}  // namespace

std::string AdamState::Encode() const {
  std::string s = "TNAS";
  PutU32(&s, 1);
  PutU64(&s, step);
  PutU32(&s, static_cast<uint32_t>(m.size()));
  for (float f : m) PutF32(&s, f);
  for (float f : v) PutF32(&s, f);
  return s;
}

Result<AdamState> AdamState::Decode(std::string_view b) {
  if (b.size() < 20 || b.substr(0, 4) != "TNAS" || GetU32(b.data() + 4) != 1) {
    return InvalidArgumentError("optimizer state: bad header");
  }
  AdamState st;
  st.step = GetU64(b.data() + 8);
  uint64_t n = GetU32(b.data() + 16);
  if (b.size() != 20 + 8 * n)
    return InvalidArgumentError("optimizer state: bad size");
  st.m.resize(n);
  st.v.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    st.m[i] = GetF32(b.data() + 20 + 4 * i);
    st.v[i] = GetF32(b.data() + 20 + 4 * (n + i));
  }
  return st;
}

bool ClipL2(std::span<float> v, double max_norm) {
  if (max_norm <= 0) return false;
  double sq = 0;
  for (float x : v) sq += static_cast<double>(x) * x;
  double norm = std::sqrt(sq);
  if (norm <= max_norm) return false;
  double k = max_norm / norm;
  for (float& x : v) x = static_cast<float>(x * k);
  return true;
}

Result<AggregationResult> Aggregate(std::span<const float> start,
                                    std::vector<ClientDelta> clients,
                                    const AggregationOptions& o,
                                    const AdamState* adam) {
  const size_t n = start.size();
  if (clients.empty()) return InvalidArgumentError("no client updates");
  for (const auto& c : clients) {
    if (c.delta.size() != n) {
      return InvalidArgumentError("update of " + c.client_id + " has " +
                                  std::to_string(c.delta.size()) +
                                  " values; the tail has " + std::to_string(n));
    }
    for (float x : c.delta) {
      if (!std::isfinite(x))
        return InvalidArgumentError("update of " + c.client_id +
                                    " is not finite");
    }
  }
  std::sort(clients.begin(), clients.end(),
            [](const ClientDelta& a, const ClientDelta& b) {
              return a.client_id < b.client_id;
            });
  AggregationResult r;
  for (auto& c : clients) r.clipped += ClipL2(c.delta, o.clip_norm) ? 1 : 0;

  std::vector<double> d;
  switch (o.strategy) {
    case v1::AGGREGATION_STRATEGY_FEDAVG:
    case v1::AGGREGATION_STRATEGY_FEDPROX:
    case v1::AGGREGATION_STRATEGY_FEDADAM: {
      for (const auto& c : clients) {
        if (c.samples == 0)
          return InvalidArgumentError("update of " + c.client_id +
                                      " reports no samples");
      }
      d = WeightedMean(clients, n);
      break;
    }
    case v1::AGGREGATION_STRATEGY_MEDIAN:
      d = PerCoordinate(clients, n, [](const std::vector<float>& col) {
        size_t m = col.size();
        return m % 2 ? static_cast<double>(col[m / 2])
                     : (static_cast<double>(col[m / 2 - 1]) + col[m / 2]) / 2;
      });
      break;
    case v1::AGGREGATION_STRATEGY_TRIMMED_MEAN: {
      if (!(o.trim_ratio >= 0 && o.trim_ratio < 0.5)) {
        return InvalidArgumentError("trim_ratio must be in [0, 0.5)");
      }
      size_t k = static_cast<size_t>(
          std::floor(o.trim_ratio * static_cast<double>(clients.size())));
      if (2 * k >= clients.size()) {
        return InvalidArgumentError("trim_ratio leaves no client");
      }
      d = PerCoordinate(clients, n, [k](const std::vector<float>& col) {
        double s = 0;
        for (size_t i = k; i < col.size() - k; ++i) s += col[i];
        return s / static_cast<double>(col.size() - 2 * k);
      });
      break;
    }
    default:
      return InvalidArgumentError("no aggregation rule for strategy " +
                                  v1::AggregationStrategy_Name(o.strategy));
  }

  r.tail.resize(n);
  r.delta.resize(n);
  if (o.strategy == v1::AGGREGATION_STRATEGY_FEDADAM) {
    AdamState st;
    if (adam && !adam->m.empty()) {
      if (adam->m.size() != n || adam->v.size() != n) {
        return InvalidArgumentError(
            "optimizer state does not match the tail size");
      }
      st = *adam;
    } else {
      st.m.assign(n, 0.0f);
      st.v.assign(n, 0.0f);
    }
    st.step += 1;
    for (size_t i = 0; i < n; ++i) {
      double m = o.beta1 * st.m[i] + (1 - o.beta1) * d[i];
      double v = o.beta2 * st.v[i] + (1 - o.beta2) * d[i] * d[i];
      st.m[i] = static_cast<float>(m);
      st.v[i] = static_cast<float>(v);
      double step = o.server_learning_rate * m / (std::sqrt(v) + o.epsilon);
      r.delta[i] = static_cast<float>(step);
      r.tail[i] = static_cast<float>(start[i] + step);
    }
    r.adam = std::move(st);
  } else {
    for (size_t i = 0; i < n; ++i) {
      r.delta[i] = static_cast<float>(d[i]);
      r.tail[i] = static_cast<float>(start[i] + d[i]);
    }
  }
  return r;
}

}  // namespace tinyfleet::adapt
