/*
 * Writes the seed corpus of the blob parser fuzzer: a handful of valid
 * blobs made by the builder (int8 model, FP32 tail, every op type, signed,
 * DS-CNN-like for GAP8, tiled layer). Host-only tool; usage:
 *   runtime_seed_writer <output directory>
 */
#include <stdio.h>
#include <string.h>

#include "model_fixture.h"

static fixture_model g_model;
static uint8_t g_blob[128 * 1024];

static int write_blob(const char* dir, const char* name, tn_target target,
                      int signed_blob, int canary) {
  size_t size = 0;
  static int8_t in[8192];
  static float out[64];
  for (size_t i = 0; i < sizeof(in); ++i) in[i] = (int8_t)(i * 13u);
  memset(out, 0, sizeof(out));
  if (fx_plan(&g_model, target) != TN_OK ||
      fx_build(&g_model, target, signed_blob, canary ? in : NULL, out, g_blob,
               sizeof(g_blob), &size) != TN_OK) {
    fprintf(stderr, "cannot build %s\n", name);
    return 1;
  }
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (f == NULL || fwrite(g_blob, 1, size, f) != size) {
    fprintf(stderr, "cannot write %s\n", path);
    if (f) fclose(f);
    return 1;
  }
  fclose(f);
  printf("%s: %lu bytes\n", path, (unsigned long)size);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  int failed = 0;
  fx_small_cnn(&g_model, 1, 0);
  failed |= write_blob(argv[1], "small_cnn_gap9.tnmb", TN_TARGET_GAP9, 0, 1);
  fx_small_cnn(&g_model, 2, 1);
  failed |= write_blob(argv[1], "small_cnn_tail_host.tnmb", TN_TARGET_HOST, 0,
                       1);
  fx_small_cnn(&g_model, 3, 1);
  failed |= write_blob(argv[1], "small_cnn_signed_gap9.tnmb", TN_TARGET_GAP9,
                       1, 0);

  fixture_model* m = &g_model;
  fx_init(m, 4, 9, 9, 4);
  uint16_t x = m->graph.input_tensor;
  uint16_t a = fx_conv(m, TN_OP_CONV2D, x, 8, 3, 2, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 8, 3, 1, 1, 2, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 8, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t f = fx_global_avgpool(m, e);
  uint16_t g = fx_reshape(m, f, 1, 1, 8);
  uint16_t h = fx_fc(m, g, 5, 8);
  uint16_t s = fx_softmax(m, h);
  uint16_t t = fx_cut(m, s);
  uint16_t y = fx_fc_f32(m, t, 3);
  fx_finish(m, y);
  failed |= write_blob(argv[1], "all_ops_gap8.tnmb", TN_TARGET_GAP8, 0, 1);

  fx_init(m, 5, 64, 48, 16);
  y = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 16, 3, 1, 1, 8, -128,
              127);
  y = fx_pool(m, TN_OP_MAXPOOL, y, 2, 2, 0);
  fx_finish(m, y);
  failed |= write_blob(argv[1], "tiled_conv_gap8.tnmb", TN_TARGET_GAP8, 0, 0);
  return failed;
}
