/*
 * Mini-batch fine-tuning of a trainable tail on labelled tail inputs with
 * optional latent replay (see tn_train.h, tn_tail_fit): the loop behind
 * self-learning on pseudo-labels and latent-replay continual learning.
 * All memory is the caller's; every loop is bounded by the epoch count,
 * the sample count and the batch size.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train_internal.h"

static tn_status tn__fit_check(const tn_tail* t, const tn_fit_config* cfg,
                               const tn_fit_data* fresh,
                               const tn_replay* replay, const float* w0,
                               uint32_t in_len, uint32_t classes) {
  if (cfg->epochs == 0 || cfg->batch == 0) return TN_ERR_ARG;
  if (fresh->count == 0 || fresh->count > TN_TRAIN_MAX_ELEMENTS) {
    return TN_ERR_ARG;
  }
  if (cfg->batch > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (cfg->sgd.prox_mu > 0.0f && !w0) return TN_ERR_NULL;
  if (replay) {
    if (cfg->replay_den == 0 || cfg->replay_num > cfg->replay_den) {
      return TN_ERR_ARG;
    }
    if (replay->cfg.sample_len != in_len) return TN_ERR_ARG;
    if (replay->cfg.num_classes > classes) return TN_ERR_ARG;
  }
  (void)t;
  return TN_OK;
}

tn_status tn_tail_fit(tn_tail* t, const tn_fit_config* cfg,
                      const tn_fit_data* fresh, tn_replay* replay,
                      const float* replay_f32, tn_rng* rng,
                      const tn_fit_work* work, const float* w0,
                      tn_fit_stats* stats) {
  if (!t || !cfg || !fresh || !rng || !work) return TN_ERR_NULL;
  if (!fresh->samples || !fresh->labels) return TN_ERR_NULL;
  if (!work->order || !work->entries) return TN_ERR_NULL;
  if (replay && !work->sample) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  const uint32_t in_len = tn_train_shape_count(t->shapes[0]);
  const uint32_t classes = tn_train_shape_count(t->shapes[t->num_layers]);
  tn_status st = tn__fit_check(t, cfg, fresh, replay, w0, in_len, classes);
  if (st != TN_OK) return st;

  /* The usable fresh samples, in index order before the first shuffle. */
  uint32_t n = 0;
  for (uint32_t i = 0; i < fresh->count; ++i) {
    const uint32_t l = fresh->labels[i];
    if (l == TN_PROTOS_UNKNOWN) continue;
    if (l >= classes) return TN_ERR_ARG;
    work->order[n++] = i;
  }
  if (n == 0) return TN_ERR_ARG;

  const uint32_t r_per_batch =
      replay ? tn_replay_batch_split(replay, cfg->batch, cfg->replay_num,
                                     cfg->replay_den)
             : 0u;
  if (r_per_batch >= cfg->batch) return TN_ERR_ARG;
  const uint32_t new_per_batch = cfg->batch - r_per_batch;
  tn_sgd_params sgd = cfg->sgd;
  tn_fit_stats s;
  memset(&s, 0, sizeof(s));
  s.fresh = n;

  for (uint32_t epoch = 0; epoch < cfg->epochs; ++epoch) {
    for (uint32_t i = n; i > 1; --i) { /* Fisher-Yates */
      const uint32_t j = tn_rng_below(rng, i);
      const uint32_t tmp = work->order[i - 1u];
      work->order[i - 1u] = work->order[j];
      work->order[j] = tmp;
    }
    float loss_sum = 0.0f;
    uint32_t loss_count = 0;
    for (uint32_t first = 0; first < n; first += new_per_batch) {
      const uint32_t take =
          n - first < new_per_batch ? n - first : new_per_batch;
      uint32_t entries = 0;
      if (replay) {
        st = tn_replay_compose(replay, first, take, r_per_batch, work->entries,
                               &entries);
        if (st != TN_OK) return st;
      } else {
        for (uint32_t k = 0; k < take; ++k) {
          work->entries[k].from_replay = 0;
          work->entries[k].index = first + k;
        }
        entries = take;
      }
      st = tn_tail_zero_grad(t);
      if (st != TN_OK) return st;
      for (uint32_t k = 0; k < entries; ++k) {
        const tn_batch_entry* e = &work->entries[k];
        const float* x;
        uint32_t label;
        if (e->from_replay) {
          uint16_t l16;
          st = tn_replay_get(replay, e->index, work->sample, &l16);
          if (st != TN_OK) return st;
          x = replay_f32 ? replay_f32 + (size_t)e->index * in_len
                         : work->sample;
          label = l16;
          ++s.replays;
        } else {
          const uint32_t idx = work->order[e->index];
          x = fresh->samples + (size_t)idx * in_len;
          label = fresh->labels[idx];
        }
        float loss;
        st = tn_tail_train_sample(t, x, label, &loss);
        if (st != TN_OK) return st;
        loss_sum += loss;
        ++loss_count;
      }
      sgd.grad_scale = 1.0f / (float)entries;
      st = tn_tail_step(t, &sgd, w0);
      if (st != TN_OK) return st;
      ++s.steps;
    }
    const float mean = loss_count ? loss_sum / (float)loss_count : 0.0f;
    if (epoch == 0) s.first_loss = mean;
    s.last_loss = mean;
  }
  if (stats) *stats = s;
  return TN_OK;
}
