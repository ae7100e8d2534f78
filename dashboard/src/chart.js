// Time-series and bar charts on uPlot (canvas; small and fast with
// thousands of points).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.js';

const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2'];

function widthOf(el) {
  return Math.max(240, Math.floor(el.getBoundingClientRect().width || 480));
}

// A titled chart panel. `series` is [{label, unit}], `data` is
// [xs (unix seconds), ys1, ys2, ...]. The returned object has
// update(data, span), destroy(), and `el` (the panel). `span` ({from, to},
// unix seconds) is the time range the x axis shows, so that a few points
// sit where they belong instead of stretching over the whole axis. The canvas carries data-points with the
// number of x values drawn, so tests and screen readers can tell an empty
// chart from a filled one.
export function timeChart({ title, series, height = 200, yRange }) {
  const body = h('div', { class: 'chart-body' });
  const note = h('p', { class: 'chart-note', hidden: true }, 'No data in this range.');
  const el = h('section', { class: 'chart', dataset: { points: '0' } }, h('h3', {}, title), body, note);
  let plot = null;
  let span = null;

  const opts = () => ({
    width: widthOf(body),
    height,
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || PALETTE[i % PALETTE.length],
        width: 1.5,
        points: { show: true, size: 4 },
        value: (u, v) => (v === null || v === undefined ? '—' : `${formatValue(v)}${s.unit ? ' ' + s.unit : ''}`),
        spanGaps: false,
      })),
    ],
    axes: [{}, { size: 60, values: (u, vals) => vals.map(formatValue) }],
    scales: {
      x: { time: true, range: (u, min, max) => (span ? [span.from, span.to] : [min, max]) },
      ...(yRange ? { y: { range: yRange } } : {}),
    },
    legend: { show: true },
    cursor: { drag: { x: true, y: false } },
  });

  const resize = () => {
    if (plot) plot.setSize({ width: widthOf(body), height });
  };
  const observer = new ResizeObserver(resize);
  observer.observe(body);

  return {
    el,
    update(data, newSpan) {
      span = newSpan || null;
      const n = data[0]?.length || 0;
      el.dataset.points = String(n);
      note.hidden = n > 0;
      if (!plot) {
        plot = new uPlot(opts(), data, body);
      } else {
        plot.setData(data);
      }
    },
    destroy() {
      observer.disconnect();
      if (plot) plot.destroy();
      plot = null;
    },
  };
}

// A bar chart over categories (e.g. accuracy per round). `labels` are the
// x categories, `series` as for timeChart.
export function categoryChart({ title, series, height = 220, yRange }) {
  const body = h('div', { class: 'chart-body' });
  const note = h('p', { class: 'chart-note', hidden: true }, 'Nothing to show yet.');
  const el = h('section', { class: 'chart', dataset: { points: '0' } }, h('h3', {}, title), body, note);
  let plot = null;
  let labels = [];

  const bars = uPlot.paths.bars({ size: [0.6, 48], align: 0 });
  const opts = () => ({
    width: widthOf(body),
    height,
    scales: { x: { time: false }, ...(yRange ? { y: { range: yRange } } : {}) },
    series: [
      { label: 'round', value: (u, v) => labels[v] ?? '' },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || PALETTE[i % PALETTE.length],
        fill: (s.color || PALETTE[i % PALETTE.length]) + '55',
        paths: series.length === 1 ? bars : undefined,
        points: { show: true, size: 6 },
        value: (u, v) => (v === null || v === undefined ? '—' : `${formatValue(v)}${s.unit ? ' ' + s.unit : ''}`),
      })),
    ],
    axes: [
      { values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? labels[v] ?? '' : '')) },
      { size: 60, values: (u, vals) => vals.map(formatValue) },
    ],
  });
  const observer = new ResizeObserver(() => plot && plot.setSize({ width: widthOf(body), height }));
  observer.observe(body);

  return {
    el,
    update(categoryLabels, ys) {
      labels = categoryLabels;
      const data = [categoryLabels.map((_, i) => i), ...ys];
      el.dataset.points = String(categoryLabels.length);
      note.hidden = categoryLabels.length > 0;
      if (plot) plot.destroy();
      plot = new uPlot(opts(), data, body);
    },
    destroy() {
      observer.disconnect();
      if (plot) plot.destroy();
      plot = null;
    },
  };
}

function formatValue(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v * 100) / 100);
  return v.toFixed(3).replace(/\.?0+$/, '');
}
