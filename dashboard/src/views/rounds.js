// Adaptation rounds: accuracy before and after each round, participants,
// and the round table, updated live from round events. Shows a plain note
// while the gateway has none, or does not offer rounds at all.
import { api } from '../api.js';
import { categoryChart } from '../chart.js';
import { clear, empty, errorNote, h } from '../dom.js';
import { bytes, enumText, percent, time } from '../format.js';

export function roundsView(root) {
  let disposed = false;
  const rounds = new Map(); // round id -> Round
  const status = h('div', { id: 'rounds-status' });
  const error = errorNote('');
  const tbody = h('tbody', { id: 'rounds' });
  const chart = categoryChart({
    title: 'Accuracy per round (evaluation before and after)',
    series: [
      { label: 'before', unit: '' },
      { label: 'after', unit: '' },
    ],
    yRange: [0, 1],
  });
  chart.el.id = 'rounds-chart';
  const table = h(
    'table',
    { class: 'rounds' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        [
          'Round',
          'Kind',
          'State',
          'Model',
          'Strategy',
          'Participants (selected / reported / dropped / late / refused)',
          'Accuracy before → after',
          'Mean loss',
          'Traffic down / up',
          'Result',
          'Created',
        ].map((t) => h('th', {}, t)),
      ),
    ),
    tbody,
  );
  root.append(h('div', { class: 'rounds-view' }, h('h1', {}, 'Adaptation rounds'), error, status, chart.el, table));

  function sorted() {
    return [...rounds.values()].sort((a, b) =>
      String(a.created_at || '').localeCompare(String(b.created_at || '')),
    );
  }

  function render() {
    const all = sorted();
    clear(status);
    table.hidden = !all.length;
    chart.el.hidden = !all.length;
    if (!all.length) {
      status.append(empty('No rounds yet.'));
      return;
    }
    chart.update(
      all.map((r) => r.round_id.slice(-6)),
      [all.map((r) => r.metrics?.accuracy_before ?? null), all.map((r) => r.metrics?.accuracy_after ?? null)],
    );
    clear(tbody);
    for (const r of [...all].reverse()) {
      const m = r.metrics || {};
      tbody.append(
        h(
          'tr',
          { dataset: { roundId: r.round_id, state: enumText(r.state) } },
          h('td', { class: 'mono' }, r.round_id),
          h('td', {}, enumText(r.kind)),
          h('td', {}, h('span', { class: 'state ' + enumText(r.state) }, enumText(r.state))),
          h('td', { class: 'mono' }, r.model_ref || ''),
          h('td', {}, enumText(r.strategy)),
          h('td', {}, [m.selected, m.reported, m.dropped, m.late, m.refused].map((n) => n || 0).join(' / ')),
          h('td', {}, `${percent(m.accuracy_before)} → ${percent(m.accuracy_after)}`),
          h('td', {}, m.mean_loss !== undefined ? Number(m.mean_loss).toFixed(4) : '—'),
          h('td', {}, `${bytes(m.bytes_down)} / ${bytes(m.bytes_up)}`),
          h('td', { class: 'mono', title: r.reason || '' }, r.result_model_ref || r.reason || '—'),
          h('td', {}, time(r.created_at)),
        ),
      );
    }
  }

  async function load() {
    try {
      const all = await api.rounds();
      if (disposed) return;
      rounds.clear();
      for (const r of all) rounds.set(r.round_id, r);
      error.textContent = '';
      render();
    } catch (e) {
      if (disposed) return;
      if (e.unimplemented) {
        table.hidden = true;
        chart.el.hidden = true;
        clear(status).append(
          empty('No rounds yet: this gateway does not run adaptation rounds. They appear here once it does.'),
        );
        status.dataset.unavailable = 'true';
      } else {
        error.textContent = 'Cannot load rounds: ' + e.message;
      }
    }
  }

  function onEvent(kind, event) {
    if (kind === 'reset') return load();
    if (kind !== 'round' || !event.round?.round_id) return;
    rounds.set(event.round.round_id, event.round);
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
      chart.destroy();
    },
  };
}
