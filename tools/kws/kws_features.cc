// kws_features: turns a synthesized keyword-spotting data set (WAV files and
// manifest.csv, see tools/kws/kws_synth.py) into a feature data set file
// (docs/formats/dataset.md) with the node's own MFCC front-end, tn_dsp, so
// the features a model is trained and evaluated on are bit for bit the ones
// a node computes. Also checks an existing file (--check) and prints the
// distribution of the float features behind the int8 quantization
// (--stats).
//
// Usage:
//   kws_features --data DIR --out FILE [--splits train,val,test,users]
//                [--max-per-class N] [--seed N] [--preset NAME] [--stats]
//   kws_features --check FILE [--expect-samples N]
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dsp/tn_dsp.h"

namespace {

struct Options {
  std::string data_dir;
  std::string out_path;
  std::string check_path;
  std::set<std::string> splits = {"train", "val", "test", "users"};
  uint32_t max_per_class = 0;  // per split and class; 0 = no limit
  std::optional<uint64_t> seed;
  std::optional<std::string> preset;
  std::optional<uint32_t> expect_samples;
  bool stats = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: kws_features --data DIR --out FILE [--splits LIST] "
               "[--max-per-class N]\n"
               "                    [--seed N] [--preset NAME] [--stats]\n"
               "       kws_features --check FILE [--expect-samples N]\n");
}

std::vector<std::string> SplitList(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

bool ParseU64(const std::string& s, uint64_t* v) {
  if (s.empty()) return false;
  uint64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (r > (UINT64_MAX - 9) / 10) return false;
    r = r * 10 + static_cast<uint64_t>(c - '0');
  }
  *v = r;
  return true;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    uint64_t n = 0;
    if (a == "--data" && value(&v)) {
      o->data_dir = v;
    } else if (a == "--out" && value(&v)) {
      o->out_path = v;
    } else if (a == "--check" && value(&v)) {
      o->check_path = v;
    } else if (a == "--splits" && value(&v)) {
      o->splits.clear();
      for (const auto& s : SplitList(v, ',')) {
        if (s != "train" && s != "val" && s != "test" && s != "users") {
          std::fprintf(stderr, "kws_features: unknown split '%s'\n", s.c_str());
          return false;
        }
        o->splits.insert(s);
      }
    } else if (a == "--max-per-class" && value(&v) && ParseU64(v, &n) &&
               n <= UINT32_MAX) {
      o->max_per_class = static_cast<uint32_t>(n);
    } else if (a == "--expect-samples" && value(&v) && ParseU64(v, &n) &&
               n <= UINT32_MAX) {
      o->expect_samples = static_cast<uint32_t>(n);
    } else if (a == "--seed" && value(&v) && ParseU64(v, &n)) {
      o->seed = n;
    } else if (a == "--preset" && value(&v)) {
      o->preset = v;
    } else if (a == "--stats") {
      o->stats = true;
    } else {
      return false;
    }
  }
  if (!o->check_path.empty()) return o->data_dir.empty();
  return !o->data_dir.empty() && !o->out_path.empty();
}

bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f),
              std::istreambuf_iterator<char>());
  return !f.bad();
}

// One CSV line into fields (RFC 4180 quoting; no embedded newlines).
std::vector<std::string> ParseCsvLine(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur.push_back(c);
    }
  }
  fields.push_back(cur);
  return fields;
}

struct Row {
  uint32_t index;  // data row in the manifest, from 0
  std::string path, label, split;
  uint32_t class_index, user;
};

bool ReadManifest(const std::string& path, std::vector<Row>* rows,
                  std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = "cannot open " + path;
    return false;
  }
  std::string line;
  if (!std::getline(f, line)) {
    *error = "empty manifest";
    return false;
  }
  std::map<std::string, size_t> col;
  auto header = ParseCsvLine(line);
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"path", "label", "class_index", "split", "user"}) {
    if (!col.count(need)) {
      *error = std::string("manifest lacks column ") + need;
      return false;
    }
  }
  uint32_t n = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    auto fields = ParseCsvLine(line);
    if (fields.size() != header.size()) {
      *error = "manifest row " + std::to_string(n) + ": wrong field count";
      return false;
    }
    Row r;
    r.index = n++;
    r.path = fields[col["path"]];
    r.label = fields[col["label"]];
    r.split = fields[col["split"]];
    uint64_t ci = 0, user = 0;
    if (!ParseU64(fields[col["class_index"]], &ci) || ci >= 256 ||
        !ParseU64(fields[col["user"]], &user) || user > 65535) {
      *error = "manifest row " + std::to_string(r.index) + ": bad number";
      return false;
    }
    r.class_index = static_cast<uint32_t>(ci);
    r.user = static_cast<uint32_t>(user);
    rows->push_back(std::move(r));
  }
  return true;
}

// 16-bit PCM mono WAV at the front-end's rate; walks the RIFF chunks.
bool ReadWav(const std::string& path, std::vector<int16_t>* pcm,
             std::string* error) {
  std::vector<uint8_t> b;
  if (!ReadFile(path, &b)) {
    *error = "cannot read " + path;
    return false;
  }
  if (b.size() < 12 || std::memcmp(b.data(), "RIFF", 4) != 0 ||
      std::memcmp(b.data() + 8, "WAVE", 4) != 0) {
    *error = path + ": not a RIFF/WAVE file";
    return false;
  }
  bool have_fmt = false;
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const uint32_t size = tn_load_u32le(b.data() + pos + 4);
    const uint8_t* body = b.data() + pos + 8;
    const size_t avail = b.size() - pos - 8;
    if (std::memcmp(b.data() + pos, "fmt ", 4) == 0) {
      if (size < 16 || avail < 16) break;
      const uint16_t format = tn_load_u16le(body);
      const uint16_t channels = tn_load_u16le(body + 2);
      const uint32_t rate = tn_load_u32le(body + 4);
      const uint16_t bits = tn_load_u16le(body + 14);
      if (format != 1 || channels != 1 || bits != 16 ||
          rate != TN_KWS_SAMPLE_RATE) {
        *error = path + ": need 16-bit PCM mono at 16 kHz";
        return false;
      }
      have_fmt = true;
    } else if (std::memcmp(b.data() + pos, "data", 4) == 0 && have_fmt) {
      const size_t n = std::min<size_t>(size, avail) / 2;
      pcm->resize(n);
      for (size_t i = 0; i < n; ++i) {
        (*pcm)[i] = static_cast<int16_t>(tn_load_u16le(body + 2 * i));
      }
      return true;
    }
    if (size > avail) break;
    pos += 8 + size + (size & 1u);
  }
  *error = path + ": no fmt/data chunk";
  return false;
}

uint32_t SplitId(const std::string& s) {
  if (s == "train") return TN_FSET_SPLIT_TRAIN;
  if (s == "val") return TN_FSET_SPLIT_VAL;
  if (s == "test") return TN_FSET_SPLIT_TEST;
  return TN_FSET_SPLIT_USERS;
}

// Distribution of the float features per coefficient (for --stats).
void PrintStats(std::vector<std::vector<float>>& by_coeff,
                const tn_mfcc_config& fe) {
  std::printf(
      "coef      min   p0.1%%    p50   p99.9%%     max  int8-clipped\n");
  const float lo = fe.s8_scale * static_cast<float>(-128 - fe.s8_zero_point);
  const float hi = fe.s8_scale * static_cast<float>(127 - fe.s8_zero_point);
  for (size_t j = 0; j < by_coeff.size(); ++j) {
    auto& v = by_coeff[j];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    auto q = [&](double p) {
      return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
    };
    size_t clipped = 0;
    for (float x : v) clipped += (x < lo || x > hi) ? 1 : 0;
    std::printf("c%-2zu %8.2f %8.2f %8.2f %8.2f %8.2f  %.4f%%\n", j, v.front(),
                q(0.001), q(0.5), q(0.999), v.back(),
                100.0 * static_cast<double>(clipped) / v.size());
  }
  std::printf("int8 range: [%.2f, %.2f] (scale %g, zero point %d)\n", lo, hi,
              fe.s8_scale, fe.s8_zero_point);
}

int Check(const Options& o) {
  std::vector<uint8_t> bytes;
  if (!ReadFile(o.check_path, &bytes)) {
    std::fprintf(stderr, "kws_features: cannot read %s\n",
                 o.check_path.c_str());
    return 1;
  }
  tn_fset_view v;
  tn_status st = tn_fset_open(bytes.data(), bytes.size(), &v);
  if (st != TN_OK) {
    std::fprintf(stderr, "kws_features: %s: %s\n", o.check_path.c_str(),
                 tn_status_str(st));
    return 1;
  }
  const tn_mfcc_config kws = tn_mfcc_config_kws();
  const tn_mfcc_config& fe = v.info.front_end;
  const bool same_front_end =
      fe.sample_rate == kws.sample_rate && fe.window == kws.window &&
      fe.stride == kws.stride && fe.fft_size == kws.fft_size &&
      fe.mel_bands == kws.mel_bands && fe.coeffs == kws.coeffs &&
      fe.low_hz == kws.low_hz && fe.high_hz == kws.high_hz &&
      fe.log_floor == kws.log_floor && fe.s8_scale == kws.s8_scale &&
      fe.s8_zero_point == kws.s8_zero_point;
  std::array<std::array<uint32_t, TN_FSET_MAX_CLASSES>, TN_FSET_SPLIT_COUNT>
      counts{};
  for (uint32_t i = 0; i < v.info.sample_count; ++i) {
    tn_fset_record r;
    if (tn_fset_get(&v, i, &r) != TN_OK) return 1;
    ++counts[r.split][r.label];
  }
  std::printf(
      "%s: %u samples, %ux%u int8 (scale %g, zero point %d), "
      "%u classes, preset %s, seed %llu, front-end %s\n",
      o.check_path.c_str(), v.info.sample_count, v.info.frames, v.info.coeffs,
      fe.s8_scale, fe.s8_zero_point, v.info.class_count, v.info.preset,
      static_cast<unsigned long long>(v.info.seed),
      same_front_end ? "kws" : "other");
  for (uint32_t s = 0; s < TN_FSET_SPLIT_COUNT; ++s) {
    uint32_t total = 0;
    std::string per;
    for (uint32_t c = 0; c < v.info.class_count; ++c) {
      total += counts[s][c];
      per += " " + std::to_string(counts[s][c]);
    }
    if (total)
      std::printf("  %-5s %5u:%s\n", tn_fset_split_str(s), total, per.c_str());
  }
  if (o.expect_samples && *o.expect_samples != v.info.sample_count) {
    std::fprintf(stderr, "kws_features: expected %u samples\n",
                 *o.expect_samples);
    return 1;
  }
  return same_front_end ? 0 : 2;
}

int Extract(const Options& o) {
  std::vector<Row> rows;
  std::string error;
  if (!ReadManifest(o.data_dir + "/manifest.csv", &rows, &error)) {
    std::fprintf(stderr, "kws_features: %s\n", error.c_str());
    return 1;
  }
  // Seed and preset from the synthesizer's stats.json unless given.
  uint64_t seed = o.seed.value_or(0);
  std::string preset = o.preset.value_or("");
  {
    std::ifstream f(o.data_dir + "/stats.json");
    if (f) {
      auto j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) {
        if (!o.seed && j.contains("seed") && j["seed"].is_number_unsigned()) {
          seed = j["seed"].get<uint64_t>();
        }
        if (!o.preset && j.contains("preset") && j["preset"].is_string()) {
          preset = j["preset"].get<std::string>();
        }
      }
    }
  }
  // Class names from the manifest: index -> label, consistent and dense.
  std::map<uint32_t, std::string> names;
  for (const auto& r : rows) {
    auto [it, fresh] = names.emplace(r.class_index, r.label);
    if (!fresh && it->second != r.label) {
      std::fprintf(stderr, "kws_features: class %u named both %s and %s\n",
                   r.class_index, it->second.c_str(), r.label.c_str());
      return 1;
    }
  }
  if (names.empty() || names.rbegin()->first + 1 != names.size() ||
      names.size() > TN_FSET_MAX_CLASSES) {
    std::fprintf(stderr, "kws_features: class indices must be 0..n-1\n");
    return 1;
  }
  std::vector<const char*> class_names;
  for (const auto& [i, n] : names) class_names.push_back(n.c_str());

  // Selection: wanted splits, at most max_per_class per (split, class), in
  // manifest order.
  std::vector<const Row*> chosen;
  std::map<std::pair<std::string, uint32_t>, uint32_t> taken;
  for (const auto& r : rows) {
    if (!o.splits.count(r.split)) continue;
    uint32_t& t = taken[{r.split, r.class_index}];
    if (o.max_per_class && t >= o.max_per_class) continue;
    ++t;
    chosen.push_back(&r);
  }

  tn_mfcc_config fe = tn_mfcc_config_kws();
  std::vector<uint8_t> state(tn_mfcc_state_buffer_size(&fe));
  std::vector<uint8_t> scratch(tn_mfcc_scratch_buffer_size(&fe));
  tn_mfcc mfcc;
  tn_status st = tn_mfcc_init(&mfcc, &fe, state.data(), state.size());
  if (st != TN_OK) {
    std::fprintf(stderr, "kws_features: init: %s\n", tn_status_str(st));
    return 1;
  }

  tn_fset_info info{};
  info.sample_count = static_cast<uint32_t>(chosen.size());
  info.frames = TN_KWS_FRAMES;
  info.coeffs = TN_KWS_COEFFS;
  info.class_count = static_cast<uint32_t>(class_names.size());
  info.front_end = fe;
  info.seed = seed;
  std::snprintf(info.preset, sizeof(info.preset), "%s", preset.c_str());
  std::vector<uint8_t> file(tn_fset_file_size(&info));
  st =
      tn_fset_write_header(&info, class_names.data(), file.data(), file.size());
  if (file.empty() || st != TN_OK) {
    std::fprintf(stderr, "kws_features: header: %s\n", tn_status_str(st));
    return 1;
  }

  std::vector<std::vector<float>> by_coeff(o.stats ? TN_KWS_COEFFS : 0);
  std::vector<int16_t> pcm;
  std::vector<int8_t> feat(TN_KWS_FEATURES);
  std::vector<float> feat_f32(TN_KWS_FEATURES);
  uint32_t padded = 0, cut = 0;
  double mfcc_seconds = 0.0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < chosen.size(); ++i) {
    const Row& r = *chosen[i];
    if (!ReadWav(o.data_dir + "/" + r.path, &pcm, &error)) {
      std::fprintf(stderr, "kws_features: %s\n", error.c_str());
      return 1;
    }
    // Clips are one second; shorter ones are zero-padded, longer cut.
    if (pcm.size() < TN_KWS_CLIP_SAMPLES) ++padded;
    if (pcm.size() > TN_KWS_CLIP_SAMPLES) ++cut;
    pcm.resize(TN_KWS_CLIP_SAMPLES, 0);
    const auto m0 = std::chrono::steady_clock::now();
    st = tn_mfcc_compute_s8(&mfcc, pcm.data(), TN_KWS_CLIP_SAMPLES, feat.data(),
                            feat.size(), nullptr, scratch.data(),
                            scratch.size());
    mfcc_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m0)
            .count();
    if (st == TN_OK && o.stats) {
      st = tn_mfcc_compute_f32(&mfcc, pcm.data(), TN_KWS_CLIP_SAMPLES,
                               feat_f32.data(), feat_f32.size(), nullptr,
                               scratch.data(), scratch.size());
      for (uint32_t k = 0; k < TN_KWS_FEATURES; ++k) {
        by_coeff[k % TN_KWS_COEFFS].push_back(feat_f32[k]);
      }
    }
    if (st != TN_OK) {
      std::fprintf(stderr, "kws_features: %s: %s\n", r.path.c_str(),
                   tn_status_str(st));
      return 1;
    }
    tn_fset_record rec{r.class_index, SplitId(r.split),
                       r.split == "users" ? r.user : 0u, r.index, feat.data()};
    st = tn_fset_write_record(&info, i, &rec, file.data(), file.size());
    if (st != TN_OK) {
      std::fprintf(stderr, "kws_features: manifest row %u: %s\n", r.index,
                   tn_status_str(st));
      return 1;
    }
  }
  st = tn_fset_finish(file.data(), file.size());
  if (st != TN_OK) return 1;
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::ofstream out(o.out_path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(file.data()),
            static_cast<std::streamsize>(file.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "kws_features: cannot write %s\n", o.out_path.c_str());
    return 1;
  }
  std::printf(
      "kws_features: %zu samples -> %s (%zu bytes) in %.2f s; MFCC "
      "%.1f us per clip",
      chosen.size(), o.out_path.c_str(), file.size(), total,
      chosen.empty() ? 0.0 : 1e6 * mfcc_seconds / chosen.size());
  if (padded || cut) std::printf("; %u padded, %u cut", padded, cut);
  std::printf("\n");
  if (o.stats) PrintStats(by_coeff, fe);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    Usage();
    return 64;
  }
  return o.check_path.empty() ? Extract(o) : Check(o);
}
