// adapt_bench: measures on-device adaptation of the keyword-spotting DS-CNN
// fixture with the node's own code (device/runtime for the int8 front-end,
// device/train for tails, replay, prototypes, enrolment and self-learning)
// and the gateway's aggregation (server/adapt), and prints Markdown tables
// and a JSON report. docs/benchmarks/adaptation.md explains the protocols
// and records the figures.
//
//   adapt_bench [--fixtures DIR] [--users FILE] [--fleet FILE] [--json FILE]
//               [--seeds N] [--smoke]
//               [--only continual|fewshot|selflearn|personal]
//
// --fixtures defaults to tests/fixtures/kws (run from the source tree).
// --users names the users feature file (one user per node) of the few-shot,
// self-learning and personalization experiments, default kws_users.tnfs;
// --fleet a second users file whose nodes share one deployment environment,
// on which personalization runs as well (default "none": skipped). Names
// without a '/' are looked up in the fixtures directory. The 16-user files
// of docs/benchmarks/adaptation.md are generated, not committed.
// --smoke runs every experiment on a small subset with one seed and checks
// that the output is sane (exit status 1 otherwise); it is the ctest.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dsp/tn_dsp.h"
#include "runtime/tn_runtime.h"
#include "server/adapt/adapt.h"
#include "server/models/models.h"
#include "train/tn_train.h"

namespace {

namespace mdl = tinyfleet::models;
using nlohmann::json;

// The Speech Commands order of the fixtures.
constexpr uint32_t kClasses = 12;
constexpr uint32_t kUnknownClass = 1;
constexpr uint32_t kFirstWord = 2;  // yes .. go are 2 .. 11
const char* const kClassNames[kClasses] = {
    "_silence_", "_unknown_", "yes", "no",  "up",   "down",
    "left",      "right",     "on",  "off", "stop", "go"};

struct Options {
  std::string fixtures = "tests/fixtures/kws";
  std::string users = "kws_users.tnfs";
  std::string fleet = "none";
  std::string json_path;
  uint32_t seeds = 5;
  bool smoke = false;
  std::string only;
};

[[noreturn]] void Die(const std::string& msg) {
  std::cerr << "adapt_bench: " << msg << "\n";
  std::exit(2);
}

void Check(tn_status st, const char* what) {
  if (st != TN_OK) Die(std::string(what) + ": " + tn_status_str(st));
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) Die("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// Latents at the cut (the tail's input) of a set of records.
struct LatentSet {
  uint32_t dim = 0;
  std::vector<float> x;  // [n][dim]
  std::vector<uint32_t> label;
  std::vector<uint32_t> user;
  std::vector<uint32_t> ordinal;  // index among records of (user, label)
  size_t size() const { return label.size(); }
  const float* at(size_t i) const { return x.data() + i * dim; }
  void Add(const LatentSet& from, size_t i) {
    x.insert(x.end(), from.at(i), from.at(i) + dim);
    label.push_back(from.label[i]);
    user.push_back(from.user[i]);
    ordinal.push_back(from.ordinal[i]);
  }
};

// The compiled model on the node runtime, and its tail's description.
class Node {
 public:
  explicit Node(std::string blob) : blob_(std::move(blob)) {
    Check(tn_blob_parse(reinterpret_cast<const uint8_t*>(blob_.data()),
                        blob_.size(), nullptr, &parsed_),
          "blob parse");
    size_t size = 0;
    Check(tn_model_arena_size(&parsed_, nullptr, &size), "arena size");
    arena_.resize((size + 7) / 8);
    Check(tn_model_init(&model_, &parsed_, arena_.data(), arena_.size() * 8,
                        nullptr),
          "model init");
    Check(tn_model_self_test(&model_), "self test");
    float* params = nullptr;
    uint32_t param_count = 0;
    Check(tn_model_tail_spec(&model_, layers_, TN_TAIL_MAX_LAYERS,
                             &layer_count_, &input_, &params, &param_count),
          "tail spec");
    shipped_.assign(params, params + param_count);
    Check(tn_model_input(&model_, &in_view_), "input");
  }

  // Runs the int8 front-end on every record of a feature file (filtered by
  // `keep`) and collects the dequantized cut latents.
  template <typename Keep>
  LatentSet Extract(const std::string& file, Keep keep, size_t limit) {
    tn_fset_view v;
    Check(tn_fset_open(reinterpret_cast<const uint8_t*>(file.data()),
                       file.size(), &v),
          "feature file");
    if (v.info.front_end.s8_scale != in_view_.desc.scale ||
        v.info.front_end.s8_zero_point != in_view_.desc.zero_point ||
        v.info.frames * v.info.coeffs != in_view_.bytes) {
      Die("feature file does not match the model input");
    }
    LatentSet s;
    s.dim = tn_train_shape_count(input_);
    std::vector<uint32_t> seen(65536u * kClasses, 0);
    for (uint32_t i = 0; i < v.info.sample_count && s.size() < limit; ++i) {
      tn_fset_record r;
      Check(tn_fset_get(&v, i, &r), "record");
      if (r.label >= kClasses) Die("unexpected class");
      const uint32_t ord = seen[r.user * kClasses + r.label]++;
      if (!keep(r)) continue;
      std::memcpy(in_view_.data, r.features, in_view_.bytes);
      Check(tn_model_run_front(&model_), "front-end");
      const size_t off = s.x.size();
      s.x.resize(off + s.dim);
      Check(tn_model_cut_f32(&model_, s.x.data() + off, s.dim), "cut");
      s.label.push_back(r.label);
      s.user.push_back(r.user);
      s.ordinal.push_back(ord);
    }
    return s;
  }

  const tn_tail_layer* layers() const { return layers_; }
  uint32_t layer_count() const { return layer_count_; }
  tn_train_shape input() const { return input_; }
  const std::vector<float>& shipped() const { return shipped_; }
  const tn_blob& blob() const { return parsed_; }

 private:
  std::string blob_;
  tn_blob parsed_{};
  std::vector<uint64_t> arena_;
  tn_model model_{};
  tn_tail_layer layers_[TN_TAIL_MAX_LAYERS];
  uint32_t layer_count_ = 0;
  tn_train_shape input_{};
  std::vector<float> shipped_;
  tn_tensor_view in_view_{};
};

// A trainable tail with its own buffers (the node's training memory).
class Tail {
 public:
  Tail(const Node& node, const std::vector<float>& params) {
    Check(tn_tail_init(&t_, node.layers(), node.layer_count(), node.input()),
          "tail init");
    tn_tail_sizes s;
    Check(tn_tail_buffer_sizes(&t_, &s), "tail sizes");
    params_ = params;
    if (params_.size() * 4 != s.params) Die("tail parameter count");
    grads_.assign(s.grads / 4 + 1, 0);
    momentum_.assign(s.momentum / 4 + 1, 0);
    acts_.assign(s.activations / 4 + 1, 0);
    scratch_.assign(s.scratch / 4 + 1, 0);
    tn_tail_buffers b{params_.data(), grads_.data(),   momentum_.data(),
                      acts_.data(),   scratch_.data(), s};
    Check(tn_tail_bind(&t_, &b), "tail bind");
    // The embedding: the output of the last layer before the classifier.
    embed_layer_ = t_.num_layers - 2;
    embed_dim_ = tn_train_shape_count(t_.shapes[embed_layer_ + 1]);
  }
  Tail(const Tail&) = delete;
  Tail& operator=(const Tail&) = delete;

  tn_tail* get() { return &t_; }
  std::vector<float>& params() { return params_; }
  uint32_t embed_layer() const { return embed_layer_; }
  uint32_t embed_dim() const { return embed_dim_; }
  void ResetMomentum() { std::fill(momentum_.begin(), momentum_.end(), 0.f); }

  uint32_t Predict(const float* x) {
    uint32_t l = 0;
    Check(tn_tail_predict(&t_, x, &l), "predict");
    return l;
  }
  // Accuracy over the samples of `s` for which pick(i) is true.
  template <typename Pick>
  double Accuracy(const LatentSet& s, Pick pick) {
    uint32_t ok = 0, n = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (!pick(i)) continue;
      ++n;
      ok += Predict(s.at(i)) == s.label[i];
    }
    return n ? static_cast<double>(ok) / n : 0;
  }
  std::vector<float> Embed(const float* x) {
    std::vector<float> e(embed_dim_);
    Check(tn_tail_embed(&t_, x, embed_layer_, e.data(), embed_dim_, nullptr),
          "embed");
    return e;
  }

 private:
  tn_tail t_{};
  std::vector<float> params_, grads_, momentum_, acts_, scratch_;
  uint32_t embed_layer_ = 0, embed_dim_ = 0;
};

// tn_tail_fit with the bench's buffers. `replay`/`mirror` as in tn_train.h.
tn_fit_stats Fit(Tail& tail, const tn_fit_config& cfg, const LatentSet& set,
                 const std::vector<uint32_t>& labels, tn_replay* replay,
                 const float* mirror, tn_rng* rng, const float* w0 = nullptr) {
  std::vector<uint32_t> order(set.size());
  std::vector<tn_batch_entry> entries(cfg.batch);
  std::vector<float> sample(set.dim);
  tn_fit_work work{order.data(), entries.data(), sample.data()};
  tn_fit_data data{set.x.data(), labels.data(),
                   static_cast<uint32_t>(set.size())};
  tn_fit_stats st{};
  tail.ResetMomentum();
  Check(
      tn_tail_fit(tail.get(), &cfg, &data, replay, mirror, rng, &work, w0, &st),
      "tail fit");
  return st;
}

tn_fit_config FitConfig(uint32_t epochs, uint32_t batch, float lr,
                        uint32_t replay_num = 0, uint32_t replay_den = 1) {
  tn_fit_config c{};
  c.epochs = epochs;
  c.batch = batch;
  c.replay_num = replay_num;
  c.replay_den = replay_den;
  c.sgd.lr = lr;
  c.sgd.momentum = 0.9f;
  c.sgd.weight_decay = 1e-4f;
  c.sgd.grad_scale = 1.0f;
  return c;
}

// A latent-replay buffer over its own storage.
struct Replay {
  tn_replay r{};
  tn_rng rng{};
  std::vector<uint32_t> storage;
  std::vector<float> mirror;  // FP32 copy of each slot
  Replay(uint32_t capacity, uint32_t dim, uint8_t bits, float lo, float hi,
         uint64_t seed) {
    tn_replay_config c{capacity, dim, bits, kClasses, TN_REPLAY_CLASS_BALANCED,
                       0.0f,     0};
    Check(tn_replay_calibrate(lo, hi, bits, &c.scale, &c.zero_point),
          "replay calibrate");
    const size_t bytes = tn_replay_buffer_size(&c);
    if (bytes == 0) Die("replay config");
    storage.assign(bytes / 4 + 1, 0);
    tn_rng_seed(&rng, seed, 17);
    Check(tn_replay_init(&r, &c, storage.data(), storage.size() * 4, &rng),
          "replay init");
    mirror.assign(static_cast<size_t>(capacity) * dim, 0.0f);
  }
  Replay(const Replay&) = delete;
  Replay& operator=(const Replay&) = delete;
  // Offers sample i of s; returns the slot written (or UINT32_MAX).
  uint32_t Offer(const LatentSet& s, size_t i) {
    uint32_t slot = UINT32_MAX;
    Check(
        tn_replay_insert(&r, s.at(i), static_cast<uint16_t>(s.label[i]), &slot),
        "replay insert");
    if (slot != UINT32_MAX) {
      std::memcpy(mirror.data() + static_cast<size_t>(slot) * s.dim, s.at(i),
                  sizeof(float) * s.dim);
    }
    return slot;
  }
};

void ShuffleIdx(std::vector<size_t>& v, tn_rng* rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = tn_rng_below(rng, static_cast<uint32_t>(i));
    std::swap(v[i - 1], v[j]);
  }
}

// He-uniform initialisation of every weight, zero biases (seeded).
std::vector<float> RandomTail(const Node& node, uint64_t seed) {
  Tail probe(node, node.shipped());
  std::vector<float> p(node.shipped().size(), 0.0f);
  tn_rng rng;
  tn_rng_seed(&rng, seed, 5);
  for (uint32_t l = 0; l < probe.get()->num_layers; ++l) {
    const uint32_t wc = probe.get()->weight_count[l];
    if (!wc) continue;
    const uint32_t fan_out = probe.get()->bias_count[l];
    const float fan_in = static_cast<float>(wc / fan_out);
    const float a = std::sqrt(6.0f / fan_in);
    float* w = p.data() + probe.get()->param_offset[l];
    for (uint32_t i = 0; i < wc; ++i) {
      w[i] = a * (2.0f * tn_rng_unit_f32(&rng) - 1.0f);
    }
  }
  return p;
}

// ------------------------------------------------------------ continual ----

// Two of the twelve classes play the new keywords: "stop" and "go".
constexpr uint32_t kNewA = 10, kNewB = 11;
bool IsNew(uint32_t label) { return label == kNewA || label == kNewB; }

json RunContinual(Node& node, const LatentSet& calib, const LatentSet& test,
                  const Options& o) {
  // Stream: the calibration clips (train voices) and the first half of each
  // class of the test voices; evaluation: the other half (other voices).
  const uint32_t half = o.smoke ? 6 : 41;
  LatentSet old_stream, new_stream, eval;
  old_stream.dim = new_stream.dim = eval.dim = calib.dim;
  for (size_t i = 0; i < calib.size(); ++i) {
    (IsNew(calib.label[i]) ? new_stream : old_stream).Add(calib, i);
  }
  for (size_t i = 0; i < test.size(); ++i) {
    if (test.ordinal[i] < half) {
      (IsNew(test.label[i]) ? new_stream : old_stream).Add(test, i);
    } else {
      eval.Add(test, i);
    }
  }
  const uint32_t capacity = o.smoke ? 40 : 300;
  float lo = 0, hi = 0;
  for (float v : old_stream.x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const uint32_t base_epochs = o.smoke ? 2 : 30;
  const uint32_t cl_epochs = o.smoke ? 2 : 20;
  std::vector<uint32_t> old_labels(old_stream.label),
      new_labels(new_stream.label);

  struct Variant {
    const char* name;
    int bits;  // 0: no replay, 32: FP32
  };
  const Variant variants[] = {{"no replay", 0},
                              {"FP32 replay", 32},
                              {"8-bit replay", 8},
                              {"7-bit replay", 7}};
  std::vector<double> acc[4][3];  // [variant][old, new, all]
  std::vector<double> base_old;
  size_t replay_bytes[3] = {0, 0, 0};  // fp32, 8, 7
  for (uint32_t seed = 1; seed <= o.seeds; ++seed) {
    // Base tail: random init, trained on the ten old classes only.
    Tail base(node, RandomTail(node, seed));
    tn_rng rng;
    tn_rng_seed(&rng, seed, 1);
    Fit(base, FitConfig(base_epochs, 32, 0.02f), old_stream, old_labels,
        nullptr, nullptr, &rng);
    base_old.push_back(
        base.Accuracy(eval, [&](size_t i) { return !IsNew(eval.label[i]); }));
    // The replay buffers see the old stream once, in one shuffled order;
    // the 8- and 7-bit buffers draw the same slots (same seed).
    Replay r8(capacity, old_stream.dim, 8, lo, hi, seed);
    Replay r7(capacity, old_stream.dim, 7, lo, hi, seed);
    std::vector<size_t> offer(old_stream.size());
    for (size_t i = 0; i < offer.size(); ++i) offer[i] = i;
    ShuffleIdx(offer, &rng);
    for (size_t i : offer) {
      if (r8.Offer(old_stream, i) != r7.Offer(old_stream, i)) {
        Die("8- and 7-bit buffers diverged");
      }
    }
    replay_bytes[0] = tn_replay_memory_f32(&r8.r);
    replay_bytes[1] = tn_replay_memory(&r8.r);
    replay_bytes[2] = tn_replay_memory(&r7.r);
    const std::vector<float> start = base.params();
    for (int v = 0; v < 4; ++v) {
      Tail t(node, start);
      // Fresh copies of the buffers' state, so each variant draws the same
      // replays: re-seed the buffer's generator before training.
      tn_rng fit_rng;
      tn_rng_seed(&fit_rng, seed, 2);
      Replay* rep = variants[v].bits == 7 ? &r7 : &r8;
      tn_rng_seed(&rep->rng, seed, 3);
      if (variants[v].bits == 0) {
        Fit(t, FitConfig(cl_epochs, 32, 0.02f), new_stream, new_labels, nullptr,
            nullptr, &fit_rng);
      } else {
        // 5 of 6 batch entries are replays: the ten old classes against the
        // two new ones.
        Fit(t, FitConfig(cl_epochs, 36, 0.02f, 5, 6), new_stream, new_labels,
            &rep->r, variants[v].bits == 32 ? rep->mirror.data() : nullptr,
            &fit_rng);
      }
      acc[v][0].push_back(
          t.Accuracy(eval, [&](size_t i) { return !IsNew(eval.label[i]); }));
      acc[v][1].push_back(
          t.Accuracy(eval, [&](size_t i) { return IsNew(eval.label[i]); }));
      acc[v][2].push_back(t.Accuracy(eval, [](size_t) { return true; }));
    }
  }
  std::printf(
      "\n## Continual learning: 2 new keywords (stop, go) on a tail trained "
      "on 10 classes\n\n"
      "old stream %zu latents, new %zu, evaluation %zu (other voices); replay "
      "%u slots; %u seeds (medians)\n\n",
      old_stream.size(), new_stream.size(), eval.size(), capacity, o.seeds);
  std::printf("base tail, old classes: %.1f %%\n\n", 100 * Median(base_old));
  std::printf("| replay | buffer bytes | old classes | new classes | all |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  json rows = json::array();
  for (int v = 0; v < 4; ++v) {
    const size_t bytes = variants[v].bits == 0    ? 0
                         : variants[v].bits == 32 ? replay_bytes[0]
                         : variants[v].bits == 8  ? replay_bytes[1]
                                                  : replay_bytes[2];
    std::printf("| %s | %zu | %.1f %% | %.1f %% | %.1f %% |\n",
                variants[v].name, bytes, 100 * Median(acc[v][0]),
                100 * Median(acc[v][1]), 100 * Median(acc[v][2]));
    rows.push_back({{"replay", variants[v].name},
                    {"bits", variants[v].bits},
                    {"buffer_bytes", bytes},
                    {"old", acc[v][0]},
                    {"new", acc[v][1]},
                    {"all", acc[v][2]},
                    {"old_median", Median(acc[v][0])},
                    {"new_median", Median(acc[v][1])},
                    {"all_median", Median(acc[v][2])}});
  }
  std::vector<double> gap8;
  for (size_t s = 0; s < acc[1][2].size(); ++s) {
    gap8.push_back(acc[1][2][s] - acc[2][2][s]);
  }
  std::printf("\nFP32 - 8-bit (all classes), median over seeds: %+.2f points\n",
              100 * Median(gap8));
  return {{"new_classes", {kClassNames[kNewA], kClassNames[kNewB]}},
          {"old_stream", old_stream.size()},
          {"new_stream", new_stream.size()},
          {"eval", eval.size()},
          {"replay_capacity", capacity},
          {"seeds", o.seeds},
          {"base_old", base_old},
          {"fp32_minus_8bit_points", 100 * Median(gap8)},
          {"variants", rows}};
}

// -------------------------------------------------------------- few-shot ----

// Embeddings of a latent set: the tail's pooled features, or the raw cut.
std::vector<std::vector<float>> Embeddings(Tail& tail, const LatentSet& s,
                                           bool raw) {
  std::vector<std::vector<float>> e(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    e[i] = raw ? std::vector<float>(s.at(i), s.at(i) + s.dim)
               : tail.Embed(s.at(i));
  }
  return e;
}

// User ids of a latent set, in order of first appearance.
std::vector<uint32_t> UserIds(const LatentSet& s) {
  std::vector<uint32_t> ids;
  for (uint32_t u : s.user) {
    if (std::find(ids.begin(), ids.end(), u) == ids.end()) ids.push_back(u);
  }
  return ids;
}

// Fewest clips any user has of any class in [first, last].
uint32_t MinClipsPerClass(const LatentSet& s, uint32_t first, uint32_t last) {
  uint32_t fewest = UINT32_MAX;
  for (uint32_t u : UserIds(s)) {
    for (uint32_t c = first; c <= last; ++c) {
      uint32_t n = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        n += s.user[i] == u && s.label[i] == c;
      }
      fewest = std::min(fewest, n);
    }
  }
  return fewest == UINT32_MAX ? 0 : fewest;
}

using Embeds = std::vector<std::vector<float>>;

// Negatives a node may calibrate its open-set threshold on, and how it
// sets the FAR target it passes to tn_enroll_calibrate.
struct NodeNegatives {
  const char* name;
  const Embeds* negatives;
  // false: the target is the goal itself (5 %), so the threshold lets
  // floor(0.05 n) of the n calibration negatives pass. true: the order-
  // statistic rule for fresh negatives: with k of n exchangeable negatives
  // allowed to pass, a fresh one passes with probability (k + 1) / (n + 1),
  // so the node asks for k = floor(0.05 (n + 1)) - 1 (at least 0).
  bool for_fresh = false;
};

// The target FAR the node passes to tn_enroll_calibrate for `goal` on n
// calibration negatives (see NodeNegatives::for_fresh).
float NodeFarTarget(float goal, size_t n, bool for_fresh) {
  if (!for_fresh) return goal;
  const double k =
      std::max(0.0, std::floor(static_cast<double>(goal) * (n + 1)) - 1.0);
  // Half a negative above k / n: tn_protos_calibrate floors target * n.
  return static_cast<float>((k + 0.5) / static_cast<double>(n));
}

struct FewShotResult {
  double oracle_acc = 0;  // at 5 % FAR on the evaluation negatives
  double closed_acc = 0;  // no rejection
  // Per entry of the node negatives: accuracy with the node-calibrated
  // threshold, its FAR on all evaluation negatives and on the user's own
  // fresh unknown words only.
  std::vector<double> node_acc, node_far, node_far_own;
};

double ShareAtOrAbove(const std::vector<float>& scores, float t) {
  uint32_t n = 0;
  for (float s : scores) n += s >= t;
  return scores.empty() ? 0 : static_cast<double>(n) / scores.size();
}

// One user, k shots per keyword, folds rotating the shots over the user's
// first `clips` clips of each keyword: fold f queries ordinals
// [f * q, f * q + q), q = clips - k, and enrols the other k.
// eval_neg = own_neg (the user's fresh unknown words) + other negatives.
FewShotResult FewShotUser(const Embeds& user_emb, const LatentSet& users,
                          uint32_t user, uint32_t k,
                          const std::vector<NodeNegatives>& node_negs,
                          const Embeds& eval_neg, const Embeds& own_neg,
                          uint32_t clips) {
  const uint32_t dim = static_cast<uint32_t>(user_emb[0].size());
  std::vector<uint32_t> store(tn_protos_buffer_size(kClasses, dim) / 4 + 1);
  const uint32_t q = clips - k;
  const uint32_t folds = std::max(1u, clips / q);
  const size_t variants = node_negs.size();
  uint32_t queries = 0, ok_oracle = 0, ok_closed = 0;
  std::vector<uint32_t> ok_node(variants, 0);
  std::vector<double> far_sum(variants, 0), far_own_sum(variants, 0);
  for (uint32_t f = 0; f < folds; ++f) {
    auto is_query = [&](uint32_t ord) {
      return ord >= f * q && ord < f * q + q;
    };
    tn_protos p;
    Check(tn_protos_init(&p, kClasses, dim, store.data(), store.size() * 4),
          "protos init");
    std::vector<float> ex;
    std::vector<uint32_t> ex_label;
    for (size_t i = 0; i < users.size(); ++i) {
      if (users.user[i] != user || users.label[i] < kFirstWord) continue;
      if (users.ordinal[i] >= clips || is_query(users.ordinal[i])) continue;
      Check(tn_protos_add_example(&p, users.label[i], user_emb[i].data()),
            "add example");
      ex.insert(ex.end(), user_emb[i].begin(), user_emb[i].end());
      ex_label.push_back(users.label[i]);
    }
    // Best-prototype scores of the evaluation negatives.
    uint32_t l;
    auto scores = [&](const Embeds& set) {
      std::vector<float> sc(set.size());
      for (size_t i = 0; i < set.size(); ++i) {
        Check(tn_protos_classify(&p, set[i].data(), &l, &sc[i]), "classify");
      }
      return sc;
    };
    const std::vector<float> ev = scores(eval_neg);
    const std::vector<float> ev_own = scores(own_neg);
    // Oracle: 5 % FAR on the evaluation negatives themselves.
    std::vector<float> ev_sorted(ev);
    float oracle_t, far;
    Check(tn_protos_calibrate(static_cast<uint32_t>(ev_sorted.size()),
                              ev_sorted.data(), 0, nullptr, 0.05f, &oracle_t,
                              &far, nullptr),
          "oracle calibrate");
    // Node calibrations: tn_enroll_calibrate at 5 % FAR on each set of
    // negatives the node holds.
    std::vector<float> node_t(variants);
    for (size_t v = 0; v < variants; ++v) {
      const Embeds& nn = *node_negs[v].negatives;
      std::vector<float> negs;
      for (const auto& n : nn) negs.insert(negs.end(), n.begin(), n.end());
      std::vector<float> scratch(nn.size() + ex_label.size());
      tn_enroll_report rep;
      Check(tn_enroll_calibrate(
                &p, ex.data(), ex_label.data(),
                static_cast<uint32_t>(ex_label.size()), negs.data(),
                static_cast<uint32_t>(nn.size()),
                NodeFarTarget(0.05f, nn.size(), node_negs[v].for_fresh),
                scratch.data(), static_cast<uint32_t>(scratch.size()), &rep),
            "enroll calibrate");
      node_t[v] = p.threshold;
      far_sum[v] += ShareAtOrAbove(ev, node_t[v]);
      far_own_sum[v] += ShareAtOrAbove(ev_own, node_t[v]);
    }
    // Queries: the closed-set label (no threshold), then each threshold is
    // applied to the best score.
    p.threshold = -2.0f;  // below every cosine
    for (size_t i = 0; i < users.size(); ++i) {
      if (users.user[i] != user || users.label[i] < kFirstWord) continue;
      if (users.ordinal[i] >= clips || !is_query(users.ordinal[i])) continue;
      float s;
      Check(tn_protos_classify(&p, user_emb[i].data(), &l, &s), "classify");
      ++queries;
      const bool right = l == users.label[i];
      ok_closed += right;
      ok_oracle += right && s >= oracle_t;
      for (size_t v = 0; v < variants; ++v)
        ok_node[v] += right && s >= node_t[v];
    }
  }
  FewShotResult r;
  r.oracle_acc = static_cast<double>(ok_oracle) / queries;
  r.closed_acc = static_cast<double>(ok_closed) / queries;
  for (size_t v = 0; v < variants; ++v) {
    r.node_acc.push_back(static_cast<double>(ok_node[v]) / queries);
    r.node_far.push_back(far_sum[v] / folds);
    r.node_far_own.push_back(far_own_sum[v] / folds);
  }
  return r;
}

json RunFewShot(Node& node, const LatentSet& calib, const LatentSet& test,
                const LatentSet& users, const Options& o) {
  Tail tail(node, node.shipped());
  // Negatives. The node holds the calibration set's unknown words (training
  // voices, "clean") and the first half of its user's own unknown-word clips
  // ("own environment"). Evaluation: the other half of the user's unknown
  // clips (fresh, same environment) and the test voices' unknown words.
  const std::vector<uint32_t> user_ids = UserIds(users);
  const uint32_t clips = MinClipsPerClass(users, kFirstWord, kClasses - 1);
  const uint32_t unknowns =
      MinClipsPerClass(users, kUnknownClass, kUnknownClass);
  const uint32_t own_cal = unknowns / 2;  // ordinals [0, own_cal) calibrate
  if (clips < 2 || own_cal == 0) Die("few-shot needs >= 2 clips per class");
  std::vector<uint32_t> shots = {std::min(5u, clips - 1),
                                 std::min(10u, clips - 1)};
  if (shots[0] == shots[1]) shots.pop_back();
  json out = json::object();
  out["clips_per_keyword"] = clips;
  out["own_unknowns_calibration"] = own_cal;
  out["own_unknowns_evaluation"] = unknowns - own_cal;
  std::printf(
      "\n## Few-shot open-set enrolment (10 keywords per user, unknown words "
      "rejected at 5 %% FAR)\n\n"
      "%zu users, %u clips per keyword and user; node thresholds from "
      "tn_enroll_calibrate on the calibration set's %s unknown words "
      "(clean) or on %u of the user's own (own env.); evaluation unknowns: "
      "the user's other %u and the test voices'\n\n",
      user_ids.size(), clips, "training-voice", own_cal, unknowns - own_cal);
  std::printf(
      "| embedding | shots | acc @5%% FAR (oracle) | clean thr.: acc | FAR "
      "| own-env. thr. (target 5 %%): acc | FAR | FAR, own fresh | own-env. "
      "thr. (fresh-FAR rule): acc | FAR | FAR, own fresh | closed-set acc "
      "|\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int raw = 0; raw < 2; ++raw) {
    const Embeds user_emb = Embeddings(tail, users, raw);
    const Embeds calib_emb = Embeddings(tail, calib, raw);
    const Embeds test_emb = Embeddings(tail, test, raw);
    Embeds clean_neg, test_neg;
    for (size_t i = 0; i < calib.size(); ++i) {
      if (calib.label[i] == kUnknownClass) clean_neg.push_back(calib_emb[i]);
    }
    for (size_t i = 0; i < test.size(); ++i) {
      if (test.label[i] == kUnknownClass) test_neg.push_back(test_emb[i]);
    }
    for (uint32_t k : shots) {
      std::vector<double> oracle, closed, acc[3], far[3], far_own[3];
      json per_user = json::array();
      for (uint32_t u : user_ids) {
        Embeds own_cal_neg, own_eval_neg;
        for (size_t i = 0; i < users.size(); ++i) {
          if (users.user[i] != u || users.label[i] != kUnknownClass) continue;
          if (users.ordinal[i] >= unknowns) continue;
          (users.ordinal[i] < own_cal ? own_cal_neg : own_eval_neg)
              .push_back(user_emb[i]);
        }
        Embeds eval_neg = own_eval_neg;
        eval_neg.insert(eval_neg.end(), test_neg.begin(), test_neg.end());
        const std::vector<NodeNegatives> node_negs = {
            {"clean", &clean_neg, false},
            {"own", &own_cal_neg, false},
            {"own_fresh_rule", &own_cal_neg, true}};
        const FewShotResult r = FewShotUser(user_emb, users, u, k, node_negs,
                                            eval_neg, own_eval_neg, clips);
        oracle.push_back(r.oracle_acc);
        closed.push_back(r.closed_acc);
        json row = {{"user", u},
                    {"oracle_acc", r.oracle_acc},
                    {"closed_acc", r.closed_acc}};
        for (size_t v = 0; v < node_negs.size(); ++v) {
          acc[v].push_back(r.node_acc[v]);
          far[v].push_back(r.node_far[v]);
          far_own[v].push_back(r.node_far_own[v]);
          row[std::string(node_negs[v].name) + "_acc"] = r.node_acc[v];
          row[std::string(node_negs[v].name) + "_far"] = r.node_far[v];
          row[std::string(node_negs[v].name) + "_far_own"] = r.node_far_own[v];
        }
        per_user.push_back(row);
      }
      const char* name = raw ? "cut latent (raw)" : "tail pooled features";
      const char* fmt =
          "| %s | %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | "
          "%.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n";
      std::printf(
          fmt, name, std::to_string(k).c_str(), 100 * Median(oracle),
          100 * Median(acc[0]), 100 * Median(far[0]), 100 * Median(acc[1]),
          100 * Median(far[1]), 100 * Median(far_own[1]), 100 * Median(acc[2]),
          100 * Median(far[2]), 100 * Median(far_own[2]), 100 * Median(closed));
      std::printf(fmt, "  (means)", "", 100 * Mean(oracle), 100 * Mean(acc[0]),
                  100 * Mean(far[0]), 100 * Mean(acc[1]), 100 * Mean(far[1]),
                  100 * Mean(far_own[1]), 100 * Mean(acc[2]),
                  100 * Mean(far[2]), 100 * Mean(far_own[2]),
                  100 * Mean(closed));
      out[std::string(raw ? "raw" : "pooled") + "_k" + std::to_string(k)] = {
          {"embedding", name},
          {"shots", k},
          {"median_oracle_acc", Median(oracle)},
          {"mean_oracle_acc", Mean(oracle)},
          {"median_closed_acc", Median(closed)},
          {"median_clean_acc", Median(acc[0])},
          {"median_clean_far", Median(far[0])},
          {"median_own_acc", Median(acc[1])},
          {"median_own_far", Median(far[1])},
          {"median_own_far_own", Median(far_own[1])},
          {"mean_own_far_own", Mean(far_own[1])},
          {"median_rule_acc", Median(acc[2])},
          {"median_rule_far", Median(far[2])},
          {"median_rule_far_own", Median(far_own[2])},
          {"mean_rule_acc", Mean(acc[2])},
          {"mean_rule_far_own", Mean(far_own[2])},
          {"users", per_user}};
    }
  }
  return out;
}

// ----------------------------------------------------------- self-learning --

json RunSelfLearn(Node& node, const LatentSet& calib, const LatentSet& users,
                  const Options& o) {
  // Per user and keyword: ordinals 0-2 enrolled (labelled by the user),
  // 3-6 recorded unlabelled, 7-9 held out for evaluation. The unlabelled
  // pool also holds the user's silence and unknown clips 0-6. Clips with
  // ordinals >= 10 take no part (the protocol of a 10-take users file).
  const std::vector<uint32_t> user_ids = UserIds(users);
  std::vector<double> before, after, precision, accepted_share;
  json per_user = json::array();
  for (uint32_t u : user_ids) {
    Tail tail(node, node.shipped());
    LatentSet shots, pool, eval;
    shots.dim = pool.dim = eval.dim = users.dim;
    for (size_t i = 0; i < users.size(); ++i) {
      if (users.user[i] != u || users.ordinal[i] >= 10) continue;
      const uint32_t ord = users.ordinal[i];
      if (ord >= 7) {
        eval.Add(users, i);
      } else if (users.label[i] < kFirstWord || ord >= 3) {
        pool.Add(users, i);
      } else {
        shots.Add(users, i);
      }
    }
    before.push_back(tail.Accuracy(eval, [](size_t) { return true; }));
    const uint32_t dim = tail.embed_dim();
    std::vector<uint32_t> store(tn_protos_buffer_size(kClasses, dim) / 4 + 1);
    tn_protos p;
    Check(tn_protos_init(&p, kClasses, dim, store.data(), store.size() * 4),
          "protos init");
    for (size_t i = 0; i < shots.size(); ++i) {
      Check(tn_protos_add_example(&p, shots.label[i],
                                  tail.Embed(shots.at(i)).data()),
            "add example");
    }
    std::vector<uint32_t> labels(pool.size());
    std::vector<float> scratch(dim);
    uint32_t accepted = 0;
    Check(tn_selflearn_label(tail.get(), &p, tail.embed_layer(), 0.8f, 0.05f,
                             pool.x.data(), static_cast<uint32_t>(pool.size()),
                             labels.data(), &accepted, scratch.data(), dim),
          "self-learn label");
    uint32_t right = 0;
    for (size_t i = 0; i < pool.size(); ++i) {
      right += labels[i] != TN_PROTOS_UNKNOWN && labels[i] == pool.label[i];
    }
    // Fine-tune on the enrolled shots and the accepted pseudo-labels, with
    // an 8-bit replay of the calibration latents against forgetting.
    LatentSet train = shots;
    std::vector<uint32_t> train_labels(shots.label);
    for (size_t i = 0; i < pool.size(); ++i) {
      train.Add(pool, i);
      train_labels.push_back(labels[i]);
    }
    float lo = 0, hi = 0;
    for (float v : calib.x) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    Replay r8(static_cast<uint32_t>(calib.size()), calib.dim, 8, lo, hi, u);
    for (size_t i = 0; i < calib.size(); ++i) r8.Offer(calib, i);
    tn_rng rng;
    tn_rng_seed(&rng, u, 9);
    Fit(tail, FitConfig(o.smoke ? 2 : 10, 16, 0.005f, 1, 2), train,
        train_labels, &r8.r, nullptr, &rng);
    after.push_back(tail.Accuracy(eval, [](size_t) { return true; }));
    precision.push_back(accepted ? static_cast<double>(right) / accepted : 0);
    accepted_share.push_back(static_cast<double>(accepted) / pool.size());
    per_user.push_back({{"user", u},
                        {"before", before.back()},
                        {"after", after.back()},
                        {"accepted", accepted},
                        {"pool", pool.size()},
                        {"pseudo_label_precision", precision.back()}});
  }
  std::vector<double> gain;
  for (size_t i = 0; i < before.size(); ++i)
    gain.push_back(after[i] - before[i]);
  std::printf(
      "\n## Self-learning (3 labelled shots per keyword, pseudo-labels on "
      "the user's other recordings, tail fine-tuned on the node)\n\n"
      "| users | pool accepted (median) | pseudo-label precision (median) | "
      "accuracy before (median) | after (median) | gain (median) | gain "
      "(mean) |\n|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf(
      "| %zu | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %+.1f | %+.1f |\n",
      user_ids.size(), 100 * Median(accepted_share), 100 * Median(precision),
      100 * Median(before), 100 * Median(after), 100 * Median(gain),
      100 * Mean(gain));
  return {
      {"median_before", Median(before)},       {"median_after", Median(after)},
      {"median_gain", Median(gain)},           {"mean_gain", Mean(gain)},
      {"median_precision", Median(precision)}, {"users", per_user}};
}

// --------------------------------------------------------- personalization --

// Tail accuracy of every node on its own test clips.
std::vector<double> NodeAccuracies(Tail& t,
                                   const std::vector<LatentSet>& test) {
  std::vector<double> acc;
  for (const LatentSet& s : test) {
    acc.push_back(t.Accuracy(s, [](size_t) { return true; }));
  }
  return acc;
}

// Closed-set nearest-prototype accuracy on `test` with prototypes (pooled
// features of tail t) of the node's own training clips of every class.
double ProtoAccuracy(Tail& t, const LatentSet& train, const LatentSet& test) {
  const uint32_t dim = t.embed_dim();
  std::vector<uint32_t> store(tn_protos_buffer_size(kClasses, dim) / 4 + 1);
  tn_protos p;
  Check(tn_protos_init(&p, kClasses, dim, store.data(), store.size() * 4),
        "protos init");
  for (size_t i = 0; i < train.size(); ++i) {
    Check(
        tn_protos_add_example(&p, train.label[i], t.Embed(train.at(i)).data()),
        "add example");
  }
  uint32_t ok = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    uint32_t l = 0;
    float score = 0;
    Check(tn_protos_classify(&p, t.Embed(test.at(i)).data(), &l, &score),
          "classify");
    ok += l == test.label[i];
  }
  return test.size() ? static_cast<double>(ok) / test.size() : 0;
}

// The node's local fine-tune of a tail on its own training clips (no
// proximal term: the result stays on the node).
void LocalFineTune(Tail& t, const LatentSet& train, uint32_t epochs,
                   uint64_t seed) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 300);
  Fit(t, FitConfig(epochs, 16, 0.01f), train, train.label, nullptr, nullptr,
      &rng);
}

json RunPersonal(Node& node, const LatentSet& users, const std::string& fleet,
                 const Options& o) {
  // One node per user of the file. Every class is capped at the fewest
  // keyword clips a user has (`cap`), so the classes stay balanced; per
  // node and class, ordinals [0, cap / 2) train locally, [cap / 2, cap)
  // test.
  const std::vector<uint32_t> user_ids = UserIds(users);
  const uint32_t cap = MinClipsPerClass(users, kFirstWord, kClasses - 1);
  const uint32_t rounds = o.smoke ? 1 : 5;
  const uint32_t local_epochs = o.smoke ? 1 : 3;
  const uint32_t ft_epochs = o.smoke ? 1 : 10;
  std::vector<LatentSet> train(user_ids.size()), test(user_ids.size());
  for (size_t n = 0; n < user_ids.size(); ++n) {
    train[n].dim = test[n].dim = users.dim;
    for (size_t i = 0; i < users.size(); ++i) {
      if (users.user[i] != user_ids[n] || users.ordinal[i] >= cap) continue;
      (users.ordinal[i] < cap / 2 ? train[n] : test[n]).Add(users, i);
    }
  }
  std::vector<float> global = node.shipped();
  std::vector<double> before, after, fedft, fedproto, localft;
  {
    Tail t(node, global);
    before = NodeAccuracies(t, test);
  }
  // Baseline without federation: each node fine-tunes the shipped tail.
  for (size_t n = 0; n < user_ids.size(); ++n) {
    Tail t(node, global);
    LocalFineTune(t, train[n], ft_epochs, user_ids[n]);
    localft.push_back(t.Accuracy(test[n], [](size_t) { return true; }));
  }
  json per_round = json::array();
  for (uint32_t round = 0; round < rounds; ++round) {
    std::vector<tinyfleet::adapt::ClientDelta> deltas;
    for (size_t n = 0; n < user_ids.size(); ++n) {
      Tail t(node, global);
      tn_rng rng;
      tn_rng_seed(&rng, user_ids[n], 100 + round);
      tn_fit_config cfg = FitConfig(local_epochs, 16, 0.01f);
      cfg.sgd.prox_mu = 0.01f;  // FedProx on the node
      Fit(t, cfg, train[n], train[n].label, nullptr, nullptr, &rng,
          global.data());
      tinyfleet::adapt::ClientDelta d;
      d.client_id = "node-" + std::to_string(100 + n);
      d.samples = train[n].size();
      d.delta.resize(global.size());
      for (size_t i = 0; i < global.size(); ++i) {
        d.delta[i] = t.params()[i] - global[i];
      }
      deltas.push_back(std::move(d));
    }
    tinyfleet::adapt::AggregationOptions ao;
    ao.strategy = tinyfleet::v1::AGGREGATION_STRATEGY_FEDAVG;
    auto agg = tinyfleet::adapt::Aggregate(global, std::move(deltas), ao);
    if (!agg.ok()) Die("aggregate: " + agg.status().ToString());
    global = agg->tail;
    Tail t(node, global);
    const std::vector<double> acc = NodeAccuracies(t, test);
    per_round.push_back({{"round", round + 1}, {"mean_acc", Mean(acc)}});
    if (round + 1 == rounds) after = acc;
  }
  // Personalised heads on top of the federated tail: a local fine-tune, or
  // prototypes of the node's own training clips.
  for (size_t n = 0; n < user_ids.size(); ++n) {
    Tail t(node, global);
    fedproto.push_back(ProtoAccuracy(t, train[n], test[n]));
    LocalFineTune(t, train[n], ft_epochs, user_ids[n]);
    fedft.push_back(t.Accuracy(test[n], [](size_t) { return true; }));
  }
  std::printf(
      "\n## Personalization (%s): %zu nodes, %zu training + %zu test clips "
      "each, %u federated rounds (FedProx on the node, FedAvg on the "
      "gateway)\n\n"
      "| node (user) | before | %u FedAvg rounds | FedAvg + local fine-tune | "
      "FedAvg + own prototypes | local fine-tune only |\n"
      "|---|---:|---:|---:|---:|---:|\n",
      fleet.c_str(), user_ids.size(), train[0].size(), test[0].size(), rounds,
      rounds);
  json per_node = json::array();
  for (size_t n = 0; n < user_ids.size(); ++n) {
    std::printf("| %u | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
                user_ids[n], 100 * before[n], 100 * after[n], 100 * fedft[n],
                100 * fedproto[n], 100 * localft[n]);
    per_node.push_back({{"user", user_ids[n]},
                        {"before", before[n]},
                        {"fedavg", after[n]},
                        {"fedavg_finetune", fedft[n]},
                        {"fedavg_prototypes", fedproto[n]},
                        {"local_finetune", localft[n]}});
  }
  auto gains = [&](const std::vector<double>& v) {
    std::vector<double> g;
    for (size_t n = 0; n < v.size(); ++n) g.push_back(v[n] - before[n]);
    return g;
  };
  std::printf(
      "| **mean** | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
      100 * Mean(before), 100 * Mean(after), 100 * Mean(fedft),
      100 * Mean(fedproto), 100 * Mean(localft));
  std::printf("| median | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
              100 * Median(before), 100 * Median(after), 100 * Median(fedft),
              100 * Median(fedproto), 100 * Median(localft));
  std::printf(
      "| gain, mean (median) | | %+.1f (%+.1f) | %+.1f (%+.1f) | %+.1f "
      "(%+.1f) | %+.1f (%+.1f) |\n",
      100 * Mean(gains(after)), 100 * Median(gains(after)),
      100 * Mean(gains(fedft)), 100 * Median(gains(fedft)),
      100 * Mean(gains(fedproto)), 100 * Median(gains(fedproto)),
      100 * Mean(gains(localft)), 100 * Median(gains(localft)));
  std::printf("\nMean accuracy after each round:");
  for (const auto& r : per_round) {
    std::printf(" %.1f %%", 100 * r["mean_acc"].get<double>());
  }
  std::printf("\n");
  return {{"users_file", fleet},
          {"nodes", user_ids.size()},
          {"rounds", rounds},
          {"train_per_node", train[0].size()},
          {"test_per_node", test[0].size()},
          {"mean_before", Mean(before)},
          {"mean_after", Mean(after)},
          {"mean_gain", Mean(gains(after))},
          {"median_gain", Median(gains(after))},
          {"mean_fedavg_finetune", Mean(fedft)},
          {"mean_gain_fedavg_finetune", Mean(gains(fedft))},
          {"median_gain_fedavg_finetune", Median(gains(fedft))},
          {"mean_fedavg_prototypes", Mean(fedproto)},
          {"mean_gain_fedavg_prototypes", Mean(gains(fedproto))},
          {"median_gain_fedavg_prototypes", Median(gains(fedproto))},
          {"mean_local_finetune", Mean(localft)},
          {"mean_gain_local_finetune", Mean(gains(localft))},
          {"median_gain_local_finetune", Median(gains(localft))},
          {"per_round", per_round},
          {"per_node", per_node}};
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--fixtures") {
      o.fixtures = value();
    } else if (a == "--users") {
      o.users = value();
    } else if (a == "--fleet") {
      o.fleet = value();
    } else if (a == "--json") {
      o.json_path = value();
    } else if (a == "--seeds") {
      o.seeds = static_cast<uint32_t>(std::stoul(value()));
      if (o.seeds == 0) Die("--seeds must be >= 1");
    } else if (a == "--smoke") {
      o.smoke = true;
    } else if (a == "--only") {
      o.only = value();
    } else {
      Die("unknown argument " + a +
          "\nusage: adapt_bench [--fixtures DIR] [--users FILE] [--fleet FILE] "
          "[--json FILE] [--seeds N] [--smoke] "
          "[--only continual|fewshot|selflearn|personal]");
    }
  }
  if (o.smoke) o.seeds = 1;
  return o;
}

bool Sane(double v) { return std::isfinite(v) && v >= 0 && v <= 1; }

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress through a pipe
  const auto t0 = std::chrono::steady_clock::now();
  const std::string onnx = ReadFile(o.fixtures + "/ds_cnn_s.onnx");
  const std::string calib_bytes = ReadFile(o.fixtures + "/kws_calib.tnfs");
  const std::string test_bytes = ReadFile(o.fixtures + "/kws_test.tnfs");
  auto in_fixtures = [&](const std::string& name) {
    return name.find('/') == std::string::npos ? o.fixtures + "/" + name : name;
  };
  const std::string users_bytes = ReadFile(in_fixtures(o.users));
  const bool with_fleet = o.fleet != "none";
  const std::string fleet_bytes =
      with_fleet ? ReadFile(in_fixtures(o.fleet)) : std::string();
  auto calib_ds = mdl::Dataset::FromFeatureFile(calib_bytes);
  if (!calib_ds.ok()) Die(calib_ds.status().ToString());
  mdl::CompileOptions co;
  co.trainable_tail_layers = 2;  // pointwise 64->64, pool, FC 64->12
  auto compiled = mdl::CompileOnnx(onnx, *calib_ds, co);
  if (!compiled.ok()) Die(compiled.status().ToString());
  Node node(compiled->blob);

  // Smoke: a few clips per (user, class) and class.
  const uint32_t per = o.smoke ? 8 : 1000;
  const size_t limit = SIZE_MAX;
  LatentSet calib = node.Extract(
      calib_bytes, [&](const tn_fset_record&) { return true; }, limit);
  LatentSet test = node.Extract(
      test_bytes, [&](const tn_fset_record&) { return true; }, limit);
  LatentSet users = node.Extract(
      users_bytes,
      [&](const tn_fset_record& r) { return !o.smoke || r.user <= 3; }, limit);
  LatentSet fleet;
  if (with_fleet) {
    fleet = node.Extract(
        fleet_bytes,
        [&](const tn_fset_record& r) { return !o.smoke || r.user <= 3; },
        limit);
  }
  if (o.smoke) {
    LatentSet t2;
    t2.dim = test.dim;
    for (size_t i = 0; i < test.size(); ++i) {
      if (test.ordinal[i] < per + 4) t2.Add(test, i);
    }
    test = std::move(t2);
  }
  const double extract_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf(
      "# adapt_bench%s: DS-CNN-S fixture, tail = %u layers on a %ux%ux%u "
      "latent; %zu calibration, %zu test, %zu user clips (%s), %zu fleet clips "
      "(%s) (front-end + compile %.1f s)\n",
      o.smoke ? " --smoke" : "", node.layer_count(), node.input().h,
      node.input().w, node.input().c, calib.size(), test.size(), users.size(),
      o.users.c_str(), fleet.size(), with_fleet ? o.fleet.c_str() : "none",
      extract_s);

  json report = {{"tool", "adapt_bench"},
                 {"smoke", o.smoke},
                 {"frozen_sha256", compiled->report.frozen_sha256},
                 {"tail_layers", co.trainable_tail_layers},
                 {"users_file", o.users},
                 {"fleet_file", with_fleet ? o.fleet : "none"},
                 {"latent", {node.input().h, node.input().w, node.input().c}}};
  bool sane = true;
  auto timed = [&](const char* name, auto fn) {
    if (!o.only.empty() && o.only != name) return;
    const auto s = std::chrono::steady_clock::now();
    json r = fn();
    r["seconds"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - s)
            .count();
    report[name] = r;
  };
  timed("continual", [&] {
    json r = RunContinual(node, calib, test, o);
    for (const auto& v : r["variants"]) {
      sane = sane && Sane(v["all_median"].get<double>());
    }
    return r;
  });
  timed("fewshot", [&] {
    json r = RunFewShot(node, calib, test, users, o);
    for (const auto& [k, v] : r.items()) {
      if (!v.is_object()) continue;
      sane = sane && Sane(v["median_oracle_acc"].get<double>()) &&
             Sane(v["median_own_far"].get<double>()) &&
             Sane(v["median_clean_far"].get<double>());
    }
    return r;
  });
  timed("selflearn", [&] {
    json r = RunSelfLearn(node, calib, users, o);
    sane = sane && Sane(r["median_after"].get<double>());
    return r;
  });
  timed("personal", [&] {
    json r = {{"users", RunPersonal(node, users, o.users, o)}};
    if (with_fleet) r["fleet"] = RunPersonal(node, fleet, o.fleet, o);
    for (const auto& [k, v] : r.items()) {
      sane = sane && Sane(v["mean_after"].get<double>()) &&
             Sane(v["mean_before"].get<double>()) &&
             Sane(v["mean_fedavg_finetune"].get<double>());
    }
    return r;
  });
  report["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    f << report.dump(1) << "\n";
    if (!f) Die("cannot write " + o.json_path);
  }
  if (!sane) {
    std::cerr << "adapt_bench: a figure is out of [0, 1] or not finite\n";
    return 1;
  }
  return 0;
}
