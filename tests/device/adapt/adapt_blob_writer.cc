// Writes the keyword-spotting model the adapt tests train: the DS-CNN-S
// fixture (tests/fixtures/kws/ds_cnn_s.onnx) compiled by the gateway's
// model compiler for GAP9 with its last layer as an FP32 trainable tail,
// calibrated on kws_calib.tnfs, unsigned.
// Usage: adapt_blob_writer <fixtures dir> <out blob>.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "server/models/dataset.h"
#include "server/models/models.h"

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <fixtures dir> <out blob>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  auto calib = tinyfleet::models::Dataset::FromFeatureFile(
      ReadFile(dir + "/kws_calib.tnfs"));
  if (!calib.ok()) {
    std::fprintf(stderr, "%s\n", calib.status().ToString().c_str());
    return 1;
  }
  tinyfleet::models::CompileOptions opt;
  opt.trainable_tail_layers = 1;
  opt.reserve_signature = false;
  auto m = tinyfleet::models::CompileOnnx(ReadFile(dir + "/ds_cnn_s.onnx"),
                                          *calib, opt);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out.write(m->blob.data(), static_cast<std::streamsize>(m->blob.size()));
  return out.good() ? 0 : 1;
}
