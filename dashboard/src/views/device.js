// One device: what the node reports, its slots and labels, telemetry charts
// over a chosen range, and its recent events (live).
import { api } from '../api.js';
import { timeChart } from '../chart.js';
import { clear, empty, errorNote, h, labelChips } from '../dom.js';
import { ago, enumText, isOnline, modelText, time } from '../format.js';

// Ranges offered above the charts. Short ranges show every record; longer
// ones bucket the records so a chart never holds more than a few hundred
// points.
const RANGES = [
  { key: '15m', label: '15 min', ms: 15 * 60e3, step: 0 },
  { key: '1h', label: '1 h', ms: 3600e3, step: 15 },
  { key: '6h', label: '6 h', ms: 6 * 3600e3, step: 60 },
  { key: '24h', label: '24 h', ms: 24 * 3600e3, step: 300 },
  { key: '7d', label: '7 d', ms: 7 * 24 * 3600e3, step: 1800 },
];

const METRICS = [
  { metric: 'inferences', title: 'Inferences', unit: '', bucket: 'AGGREGATION_SUM' },
  { metric: 'confidence', title: 'Mean confidence', unit: '', bucket: 'AGGREGATION_MEAN', yRange: [0, 1] },
  { metric: 'accuracy', title: 'Accuracy on labelled feedback', unit: '', bucket: 'AGGREGATION_MEAN', yRange: [0, 1] },
  { metric: 'energy_uj', title: 'Energy', unit: 'µJ', bucket: 'AGGREGATION_SUM' },
];

export function deviceView(root, { id }) {
  let disposed = false;
  let device = null;
  let modelsById = new Map();
  let range = RANGES[0];
  let refetchTimer = null;
  let chartAbort = null;
  const history = [];

  const title = h('h1', { class: 'mono' }, id);
  const state = h('span', { id: 'device-state', class: 'state' }, '…');
  const info = h('dl', { id: 'device-info', class: 'info' });
  const labels = h('div', { id: 'device-labels', class: 'labels' });
  const slots = h('tbody', { id: 'device-slots' });
  const events = h('ol', { id: 'device-events', class: 'events' });
  const error = errorNote('');
  const charts = METRICS.map((m) => {
    const c = timeChart({ title: m.title, series: [{ label: m.metric, unit: m.unit }], yRange: m.yRange });
    c.el.id = 'chart-' + m.metric;
    return { ...m, chart: c };
  });
  const rangeButtons = RANGES.map((r) =>
    h(
      'button',
      {
        type: 'button',
        class: r === range ? 'active' : '',
        dataset: { range: r.key },
        onclick: () => {
          range = r;
          for (const b of rangeButtons) b.classList.toggle('active', b.dataset.range === r.key);
          loadCharts();
        },
      },
      r.label,
    ),
  );

  root.append(
    h(
      'div',
      { class: 'device' },
      h('p', {}, h('a', { href: '#/' }, '← Fleet')),
      h('div', { class: 'title' }, title, state),
      error,
      h(
        'div',
        { class: 'columns' },
        h('section', { class: 'card' }, h('h2', {}, 'Node'), info),
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Labels'),
          labels,
          h('h2', {}, 'Model slots'),
          h(
            'table',
            { class: 'slots' },
            h('thead', {}, h('tr', {}, ['Slot', 'State', 'Model', 'Version', 'Model id'].map((t) => h('th', {}, t)))),
            slots,
          ),
        ),
      ),
      h('div', { class: 'toolbar' }, h('h2', {}, 'Telemetry'), h('div', { class: 'segmented' }, rangeButtons)),
      h('div', { class: 'charts' }, charts.map((c) => c.chart.el)),
      h('section', { class: 'card' }, h('h2', {}, 'Events'), events),
    ),
  );

  function renderDevice() {
    if (!device) return;
    const online = isOnline(device);
    const retired = device.lifecycle === 'DEVICE_LIFECYCLE_DECOMMISSIONED';
    state.textContent = retired ? 'decommissioned' : online ? 'online' : 'offline';
    state.className = 'state ' + (retired ? 'retired' : online ? 'online' : 'offline');
    const n = device.node || {};
    const rows = [
      ['Hardware id', n.hardware_id],
      ['Firmware', n.firmware_version],
      ['Target', enumText(n.target)],
      ['Link', n.transport],
      ['Capabilities', n.capabilities ? '0x' + Number(n.capabilities).toString(16) : '0'],
      ['Agent', device.agent_version],
      ['Enrolled', time(device.enrolled_at)],
      ['Last seen', online ? 'now' : `${time(device.last_seen_at)} (${ago(device.last_seen_at)})`],
      ['Certificate serial', device.certificate_serial],
      ['Certificate SHA-256', device.certificate_sha256 ? device.certificate_sha256.slice(0, 16) + '…' : ''],
    ];
    if (retired) rows.push(['Decommissioned', device.decommission_reason || 'yes']);
    clear(info);
    for (const [k, v] of rows) info.append(h('dt', {}, k), h('dd', { class: 'mono' }, v || '—'));
    clear(labels).append(...labelChips(device.labels));
    if (!Object.keys(device.labels || {}).length) labels.append(empty('No labels.'));
    clear(slots);
    for (const s of n.slots || []) {
      slots.append(
        h(
          'tr',
          { dataset: { slot: s.name } },
          h('td', {}, s.name),
          h('td', {}, h('span', { class: 'slot ' + enumText(s.state).replace(' ', '-') }, enumText(s.state))),
          h('td', { class: 'mono' }, modelText(s, modelsById) || '—'),
          h('td', {}, s.model_version ? String(s.model_version) : '—'),
          h('td', { class: 'mono', title: s.model_id || '' }, s.model_id || '—'),
        ),
      );
    }
    if (!(n.slots || []).length) slots.append(h('tr', {}, h('td', { colspan: 5 }, empty('No slots reported.'))));
  }

  function renderEvents() {
    clear(events);
    if (!history.length) return events.append(empty('No events kept for this device.'));
    for (const e of history.slice(0, 100)) {
      const change = e.device?.change || 'event';
      events.append(
        h(
          'li',
          { dataset: { change } },
          h('time', { datetime: e.time || '' }, time(e.time)),
          h('span', { class: 'change ' + change }, change),
          e.device?.device?.connectivity && change !== 'labels'
            ? h('span', { class: 'muted' }, enumText(e.device.device.connectivity))
            : null,
        ),
      );
    }
  }

  async function loadDevice() {
    try {
      device = await api.device(id);
      if (disposed) return;
      error.textContent = '';
      renderDevice();
    } catch (e) {
      if (!disposed) error.textContent = e.status === 404 ? 'No such device.' : 'Cannot load the device: ' + e.message;
    }
  }

  async function loadModels() {
    try {
      const list = await api.models();
      modelsById = new Map(list.map((m) => [`${m.model_id}:${m.blob_version || m.version}`, m]));
      if (!disposed) renderDevice();
    } catch {
      // Slots then show model ids only.
    }
  }

  async function loadEvents() {
    try {
      const r = await api.recentEvents({ device_id: id, limit: 100 });
      if (disposed) return;
      const seen = new Set(history.map((e) => e.sequence));
      for (const e of r.events || []) if (!seen.has(e.sequence)) history.push(e);
      history.sort((a, b) => Number(b.sequence) - Number(a.sequence));
      renderEvents();
    } catch {
      if (!disposed) renderEvents();
    }
  }

  async function loadCharts() {
    if (chartAbort) chartAbort.abort();
    const abort = new AbortController();
    chartAbort = abort;
    const end = new Date();
    const start = new Date(end.getTime() - range.ms);
    const span = { from: start.getTime() / 1000, to: end.getTime() / 1000 };
    await Promise.all(
      charts.map(async (c) => {
        const params = {
          device_id: id,
          metric: c.metric,
          start: start.toISOString(),
          end: end.toISOString(),
          limit: 5000,
        };
        if (range.step) {
          params.aggregation = c.bucket;
          params.step = `${range.step}s`;
        }
        try {
          const r = await api.telemetry(params, { signal: abort.signal });
          if (disposed || abort.signal.aborted) return;
          const pts = r.points || [];
          c.chart.update([pts.map((p) => new Date(p.time).getTime() / 1000), pts.map((p) => p.value)], span);
        } catch (e) {
          if (e.name !== 'AbortError' && !disposed) c.chart.update([[], []], span);
        }
      }),
    );
  }

  function onEvent(kind, event) {
    if (kind === 'reset') {
      loadDevice();
      loadEvents();
      return;
    }
    if (kind === 'model') return loadModels();
    if (kind !== 'device' || event.device?.device_id !== id) return;
    history.unshift(event);
    renderEvents();
    const change = event.device.change;
    if ((change === 'online' || change === 'offline') && device) {
      device.connectivity = event.device.device?.connectivity || device.connectivity;
      if (change === 'offline') device.last_seen_at = event.time;
      renderDevice();
    }
    // Labels, slots, lifecycle: fetch the whole record again.
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(loadDevice, 150);
  }

  loadDevice();
  loadModels();
  loadEvents();
  loadCharts();
  const chartTimer = setInterval(() => {
    if (range.ms <= 3600e3) loadCharts();
  }, 10000);
  const deviceTimer = setInterval(loadDevice, 30000);

  return {
    onEvent,
    unmount() {
      disposed = true;
      clearInterval(chartTimer);
      clearInterval(deviceTimer);
      clearTimeout(refetchTimer);
      if (chartAbort) chartAbort.abort();
      for (const c of charts) c.chart.destroy();
    },
  };
}
