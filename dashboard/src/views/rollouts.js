// Rollouts: each rollout with its waves, gates and progress, updated live
// from rollout events; operators (not viewers) can pause, resume and abort
// them. Shows a plain note while the gateway has none, or does not offer
// rollouts at all.
import { api, canOperate } from '../api.js';
import { clear, empty, errorNote, h } from '../dom.js';
import { ago, bytes, duration, enumText, percent, time } from '../format.js';

// What an operator may do to a rollout in each state.
const ACTIONS = {
  running: ['pause', 'abort'],
  paused: ['resume', 'abort'],
  pending: ['abort'],
};
const ACTION_TEXT = { pause: 'Pause', resume: 'Resume', abort: 'Abort' };

export function rolloutsView(root, params, { principal } = {}) {
  let disposed = false;
  const operate = canOperate(principal);
  const rollouts = new Map(); // rollout id -> Rollout
  const busy = new Set(); // rollout ids with an action in flight
  const confirming = new Map(); // rollout id -> timer: abort asked once
  const actionErrors = new Map(); // rollout id -> message of the last failure
  const list = h('div', { id: 'rollouts', class: 'stack' });
  const status = h('div', { id: 'rollouts-status' });
  const error = errorNote('');
  root.append(h('div', { class: 'rollouts' }, h('h1', {}, 'Rollouts'), error, status, list));

  function progress(r) {
    let targeted = 0;
    let confirmed = 0;
    let failed = 0;
    for (const w of r.waves || []) {
      targeted += w.targeted || 0;
      confirmed += w.confirmed || 0;
      failed += w.failed || 0;
    }
    return { targeted, confirmed, failed };
  }

  function bar({ targeted, confirmed, failed }) {
    const pct = (n) => (targeted ? (100 * n) / targeted : 0);
    const ok = h('span', { class: 'ok' });
    const bad = h('span', { class: 'bad' });
    // Through the CSSOM, which the page's content security policy allows.
    ok.style.width = `${pct(confirmed)}%`;
    bad.style.width = `${pct(failed)}%`;
    return h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': targeted,
        'aria-valuenow': confirmed,
        dataset: { confirmed: String(confirmed), failed: String(failed), targeted: String(targeted) },
      },
      ok,
      bad,
    );
  }

  async function act(r, action) {
    if (action === 'abort' && !confirming.has(r.rollout_id)) {
      // Aborting rolls every updated node back: ask for a second click.
      confirming.set(
        r.rollout_id,
        setTimeout(() => {
          confirming.delete(r.rollout_id);
          if (!disposed) render();
        }, 5000),
      );
      return render();
    }
    clearTimeout(confirming.get(r.rollout_id));
    confirming.delete(r.rollout_id);
    busy.add(r.rollout_id);
    actionErrors.delete(r.rollout_id);
    render();
    try {
      const changed = await api.rolloutAction(r.rollout_id, action);
      if (disposed) return;
      if (changed?.rollout_id) rollouts.set(changed.rollout_id, changed);
    } catch (e) {
      if (disposed) return;
      actionErrors.set(
        r.rollout_id,
        e.status === 403 ? `Not allowed: ${e.message}` : `Cannot ${action}: ${e.message}`,
      );
    } finally {
      busy.delete(r.rollout_id);
    }
    if (!disposed) render();
  }

  function actions(r) {
    if (!operate) return null;
    const allowed = ACTIONS[enumText(r.state)] || [];
    if (!allowed.length) return null;
    return h(
      'div',
      { class: 'actions' },
      allowed.map((a) => {
        const confirm = a === 'abort' && confirming.has(r.rollout_id);
        return h(
          'button',
          {
            type: 'button',
            class: a === 'abort' ? 'danger' : '',
            dataset: { action: a, confirm: confirm ? 'true' : undefined },
            disabled: busy.has(r.rollout_id),
            onclick: () => act(r, a),
          },
          confirm ? 'Confirm abort (rolls back)' : ACTION_TEXT[a],
        );
      }),
    );
  }

  function card(r) {
    const p = progress(r);
    const gate = r.gate || {};
    const target = r.label_selector
      ? `selector ${r.label_selector}`
      : `${(r.device_ids || []).length} listed device(s)`;
    return h(
      'article',
      { class: 'card rollout', dataset: { rolloutId: r.rollout_id, state: enumText(r.state) } },
      h(
        'header',
        {},
        h('h2', { class: 'mono' }, r.rollout_id),
        h('span', { class: 'chip mono' }, r.model_ref),
        h('span', { class: 'state ' + enumText(r.state) }, enumText(r.state)),
        h('span', { class: 'muted' }, `updated ${ago(r.updated_at)}`),
        actions(r),
      ),
      actionErrors.has(r.rollout_id) ? errorNote(actionErrors.get(r.rollout_id)) : null,
      bar(p),
      h(
        'p',
        { class: 'muted' },
        `${p.confirmed} confirmed, ${p.failed} failed of ${p.targeted} targeted · wave ${(r.current_wave || 0) + 1} of ` +
          `${(r.waves || []).length} · ${target} · ${bytes(r.bytes_sent)} sent · created ${time(r.created_at)}`,
      ),
      r.reason ? h('p', { class: 'reason' }, r.reason) : null,
      h(
        'p',
        { class: 'gate' },
        `Gate: failures ≤ ${percent(gate.max_failure_ratio || 0, 0)}, healthy ≥ ${percent(gate.min_healthy_ratio ?? 1, 0)}, ` +
          `accuracy drop ≤ ${gate.max_accuracy_drop ?? 0} pts, soak ${duration(gate.soak)}, timeout ${duration(gate.timeout)}`,
      ),
      h(
        'table',
        { class: 'waves' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Wave', 'Up to', 'Targeted', 'Confirmed', 'Failed', 'State', 'Accuracy new / before', 'Gate', 'Started'].map(
              (t) => h('th', {}, t),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          (r.waves || []).map((w) =>
            h(
              'tr',
              { dataset: { wave: String(w.index || 0), state: w.state || '' } },
              h('td', {}, String((w.index || 0) + 1)),
              h('td', {}, `${w.percent ?? 0}%`),
              h('td', {}, String(w.targeted || 0)),
              h('td', {}, String(w.confirmed || 0)),
              h('td', {}, String(w.failed || 0)),
              h('td', {}, h('span', { class: 'state ' + (w.state || '') }, w.state || '')),
              h(
                'td',
                {},
                w.accuracy_new || w.accuracy_previous
                  ? `${percent(w.accuracy_new)} / ${percent(w.accuracy_previous)}`
                  : '—',
              ),
              h('td', {}, w.gate_reason || ''),
              h('td', {}, w.started_at ? time(w.started_at) : '—'),
            ),
          ),
        ),
      ),
    );
  }

  function render() {
    clear(list);
    const all = [...rollouts.values()].sort((a, b) =>
      String(b.created_at || '').localeCompare(String(a.created_at || '')),
    );
    clear(status);
    if (!all.length) status.append(empty('No rollouts yet.'));
    for (const r of all) list.append(card(r));
  }

  async function load() {
    try {
      const all = await api.rollouts();
      if (disposed) return;
      rollouts.clear();
      for (const r of all) rollouts.set(r.rollout_id, r);
      error.textContent = '';
      render();
    } catch (e) {
      if (disposed) return;
      if (e.unimplemented) {
        clear(status).append(
          empty('No rollouts yet: this gateway does not offer rollouts. They appear here once it does.'),
        );
        status.dataset.unavailable = 'true';
      } else {
        error.textContent = 'Cannot load rollouts: ' + e.message;
      }
    }
  }

  function onEvent(kind, event) {
    if (kind === 'reset') return load();
    if (kind !== 'rollout' || !event.rollout?.rollout_id) return;
    rollouts.set(event.rollout.rollout_id, event.rollout);
    delete status.dataset.unavailable;
    render();
  }

  load();
  const timer = setInterval(load, 30000);
  return {
    onEvent,
    unmount() {
      disposed = true;
      clearInterval(timer);
      for (const t of confirming.values()) clearTimeout(t);
    },
  };
}
