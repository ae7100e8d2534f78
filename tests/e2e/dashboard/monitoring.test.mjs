// The monitoring files in deploy/ against a live gateway: the Prometheus
// configuration and alert rules (deploy/prometheus) and the Grafana
// dashboard (deploy/grafana/tinyfleet.json).
//
// - Structure: the YAML and JSON parse and have the fields Prometheus and
//   Grafana need (every alert has a severity, a summary and a description;
//   every panel a query, a data source and a place on the grid).
// - promtool (Debian's prometheus package), when installed: `check config`
//   (which also checks the rule file) and `test rules` on alerts_test.yml.
// - Every metric selector in a rule or a panel query matches a series that a
//   real gateway with a simulated fleet exports on /metrics: a renamed
//   metric or label value fails here rather than on a silent dashboard.
//
// Environment: TF_BUILD_DIR, TF_SOURCE_DIR, TF_ARTIFACTS_DIR (logs).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { Fleet, waitFor } from './fleet.mjs';

const run = promisify(execFile);
const build = process.env.TF_BUILD_DIR;
const source = process.env.TF_SOURCE_DIR;
const artifacts = process.env.TF_ARTIFACTS_DIR || join(process.cwd(), 'artifacts');
assert.ok(build && source, 'TF_BUILD_DIR and TF_SOURCE_DIR must be set');
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

const PROMTOOL = '/usr/bin/promtool';
const promDir = join(source, 'deploy/prometheus');
const config = YAML.parse(readFileSync(join(promDir, 'prometheus.yml'), 'utf8'));
const rules = YAML.parse(readFileSync(join(promDir, 'alerts.yml'), 'utf8'));
const dashboard = JSON.parse(readFileSync(join(source, 'deploy/grafana/tinyfleet.json'), 'utf8'));
// Series Prometheus makes itself, not the gateway.
const PROMETHEUS_SERIES = new Set(['up']);
// Labels Prometheus adds to every scraped series (target labels).
const TARGET_LABELS = new Set(['job', 'instance']);

// ---- PromQL and exposition-format helpers ----------------------------------

// The metric selectors of a PromQL expression: [{name, matchers: [{label,
// op, value}]}]. Function names (followed by "("), keywords and label names
// inside by/on/ignoring lists are not selectors.
export function selectorsOf(expr) {
  const KEYWORDS = new Set([
    'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool',
    'offset', 'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile',
    'count_values', 'group', 'inf', 'nan',
  ]);
  const text = expr
    .replace(/\[[^\]]*\]/g, '') // range selectors: [5m], [$__rate_interval]
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\{\{[^}]*\}\}/g, ''); // template text, in case
  const out = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{[^}]*\})?/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[0] === '') {
      re.lastIndex += 1;
      continue;
    }
    const [, name, braces] = m;
    const rest = text.slice(re.lastIndex);
    if (name && (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(rest))) {
      re.lastIndex = m.index + name.length; // braces after a keyword are a selector
      continue;
    }
    if (!name && !braces) continue;
    if (name && /^[0-9]/.test(name)) continue;
    // Preceded by a quote: a string, not a metric.
    const before = text.slice(0, m.index);
    if ((before.match(/"/g) || []).length % 2 === 1) continue;
    const matchers = [];
    for (const mm of (braces || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({ label: mm[1], op: mm[2], value: mm[3].replace(/\\(.)/g, '$1') });
    }
    const nameMatcher = matchers.find((x) => x.label === '__name__' && x.op === '=');
    const metric = name || nameMatcher?.value;
    if (!metric) continue;
    out.push({ name: metric, matchers: matchers.filter((x) => x.label !== '__name__') });
  }
  return out;
}

// The series of a Prometheus text exposition: [{name, labels}].
function parseExposition(text) {
  const series = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const lm of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2];
    }
    series.push({ name: m[1], labels });
  }
  return series;
}

// Whether some exported series satisfies the selector's positive matchers
// (=, =~). Negative matchers and target labels (job, instance, which
// Prometheus adds) are not checked: a selector may rightly exclude
// everything that exists right now.
function matchesSome(selector, series) {
  const positive = selector.matchers.filter((x) => (x.op === '=' || x.op === '=~') && !TARGET_LABELS.has(x.label));
  return series.some(
    (s) =>
      s.name === selector.name &&
      positive.every((x) =>
        x.op === '=' ? (s.labels[x.label] ?? '') === x.value : new RegExp(`^(?:${x.value})$`).test(s.labels[x.label] ?? ''),
      ),
  );
}

function describe(selector) {
  return `${selector.name}{${selector.matchers.map((x) => `${x.label}${x.op}"${x.value}"`).join(', ')}}`;
}

// Every query of the Grafana dashboard: [{where, expr}].
function dashboardQueries() {
  const out = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      for (const t of p.targets || []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list || []) {
    const q = typeof v.query === 'object' ? v.query?.query : v.type === 'query' ? v.query : null;
    const lv = q && /label_values\(\s*([^,)]+)/.exec(q);
    if (lv) out.push({ where: `variable ${v.name}`, expr: lv[1] });
  }
  return out;
}

function alertRules() {
  return rules.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
}

// ---- The live gateway -----------------------------------------------------

const fleet = new Fleet({ build, logDir: join(artifacts, 'logs'), agents: 2 });
let exported = [];
let failed = false;

before(async () => {
  await fleet.startGateway();
  await fleet.startFleet();
  // Restart the fleet once, so that sessions have also closed (their
  // counter has a series per close reason only after a close).
  const sim = fleet.procs.pop();
  sim.child.kill('SIGTERM');
  await new Promise((r) => (sim.exited ? r() : sim.child.once('exit', r)));
  await fleet.startFleet();
  // Unary gRPC calls for the latency histogram; a rollout for the rollout
  // gauges is not needed (every state has a series from the start).
  await fleet.cli(['devices', 'list']);
  await fleet.cli(['whoami']);
  const text = await waitFor(
    'stored telemetry, closed sessions and gRPC latency on /metrics',
    async () => {
      const t = await fleet.metrics();
      const stored = /^tinyfleet_telemetry_records_total\{result="stored"\} ([0-9.e+]+)/m.exec(t);
      // The fleet gauges are recomputed every 15 s: wait until they count
      // the simulated fleet (versions included).
      const active = /^tinyfleet_devices\{lifecycle="active"\} ([0-9.e+]+)/m.exec(t);
      return stored &&
        Number(stored[1]) > 0 &&
        active &&
        Number(active[1]) === fleet.agents &&
        /^tinyfleet_devices_by_firmware\{/m.test(t) &&
        /^tinyfleet_sessions_closed_total\{/m.test(t) &&
        /^tinyfleet_grpc_request_duration_seconds_bucket\{/m.test(t) &&
        /^tinyfleet_fleet_gauges_refreshed_timestamp_seconds /m.test(t)
        ? t
        : null;
    },
    { timeout: 60000, every: 250 },
  );
  writeFileSync(join(artifacts, 'metrics.txt'), text);
  exported = parseExposition(text);
});

after(async () => {
  await fleet.stop({ keep: failed });
});

function guard(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  };
}

test('the PromQL selector parser finds metrics and matchers, not functions or labels', () => {
  const s = selectorsOf(
    'sum by (le, method) (rate(tinyfleet_x_bucket{a="1", b=~"x|y", c!="z"}[$__rate_interval])) ' +
      '/ ignoring(lifecycle) tinyfleet_y > 0 and on(instance) {__name__="tinyfleet_z"}',
  );
  assert.deepEqual(
    s.map(describe),
    ['tinyfleet_x_bucket{a="1", b=~"x|y", c!="z"}', 'tinyfleet_y{}', 'tinyfleet_z{}'],
  );
  const series = parseExposition('# HELP x\ntinyfleet_x_bucket{a="1",b="y",le="0.5"} 3\ntinyfleet_y 1\n');
  assert.equal(matchesSome(s[0], series), true);
  assert.equal(matchesSome({ name: 'tinyfleet_x_bucket', matchers: [{ label: 'a', op: '=', value: '2' }] }, series), false);
  assert.equal(matchesSome({ name: 'tinyfleet_w', matchers: [] }, series), false);
});

test(
  'prometheus.yml scrapes the gateway and loads the alert rules',
  guard(() => {
    const job = config.scrape_configs.find((j) => j.job_name === 'tinyfleet-gateway');
    assert.ok(job, 'a scrape job named tinyfleet-gateway');
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    assert.ok(job.static_configs[0].targets.length > 0);
    assert.deepEqual(config.rule_files, ['alerts.yml']);
    for (const f of config.rule_files) assert.ok(existsSync(join(promDir, f)), `${f} exists`);
  }),
);

test(
  'every alert rule is complete, and the ones the operations guide promises exist',
  guard(() => {
    const all = alertRules();
    const names = all.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, 'alert names are unique');
    for (const r of all) {
      assert.ok(r.alert && r.expr, `${r.group}: alert and expr`);
      assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity), `${r.alert}: severity`);
      assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    }
    for (const wanted of [
      'TinyfleetGatewayDown',
      'TinyfleetNodesOffline',
      'TinyfleetRolloutAborted',
      'TinyfleetRoundFailed',
      'TinyfleetTelemetryRefusedRising',
      'TinyfleetIngestStalled',
    ]) {
      assert.ok(names.includes(wanted), `alert ${wanted}`);
    }
    // The gateway-down rule names the scrape job of prometheus.yml.
    const down = all.find((r) => r.alert === 'TinyfleetGatewayDown');
    assert.match(down.expr, /job="tinyfleet-gateway"/);
  }),
);

test(
  'promtool accepts the configuration and the alert unit tests pass',
  guard(async (t) => {
    if (!existsSync(PROMTOOL)) {
      t.skip(`${PROMTOOL} is missing (Debian's prometheus package; deploy/install-deps.sh installs it)`);
      return;
    }
    const check = await run(PROMTOOL, ['check', 'config', join(promDir, 'prometheus.yml')]);
    assert.match(check.stdout + check.stderr, /SUCCESS/);
    const unit = await run(PROMTOOL, ['test', 'rules', join(promDir, 'alerts_test.yml')]);
    assert.match(unit.stdout + unit.stderr, /SUCCESS/);
  }),
);

test(
  'the Grafana dashboard is well formed',
  guard(() => {
    assert.equal(typeof dashboard.uid, 'string');
    assert.equal(typeof dashboard.title, 'string');
    const vars = Object.fromEntries((dashboard.templating?.list || []).map((v) => [v.name, v]));
    assert.equal(vars.datasource?.type, 'datasource');
    assert.equal(vars.datasource?.query, 'prometheus');
    assert.ok(vars.instance, 'an instance variable');
    const ids = new Set();
    const titles = [];
    for (const p of dashboard.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
      ids.add(p.id);
      const g = p.gridPos;
      assert.ok(g && g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24, `panel "${p.title}" on the grid`);
      if (p.type === 'row') continue;
      titles.push(p.title);
      assert.ok(p.targets?.length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets) {
        assert.equal(t.datasource?.uid, '${datasource}', `panel "${p.title}" uses the data source variable`);
        assert.ok(t.expr?.trim(), `panel "${p.title}" ${t.refId} has an expression`);
        assert.match(t.expr, /instance=~"\$instance"/, `panel "${p.title}" ${t.refId} follows the gateway variable`);
      }
    }
    // What the issue asks the dashboard to show.
    for (const wanted of [
      'Online nodes',
      'Offline nodes',
      'Firmware versions',
      'Model versions running',
      'Rollouts by state',
      'Adaptation rounds by state',
      'Telemetry ingest rate',
      'Refused telemetry records',
      'gRPC latency (unary calls)',
    ]) {
      assert.ok(titles.includes(wanted), `panel "${wanted}"`);
    }
  }),
);

test(
  'every metric the alert rules and the dashboard name is exported by a live gateway',
  guard(() => {
    const queries = [
      ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
      ...dashboardQueries(),
    ];
    const missing = [];
    let checked = 0;
    for (const q of queries) {
      const sel = selectorsOf(q.expr);
      assert.ok(sel.length > 0, `${q.where}: no metric found in ${q.expr}`);
      for (const s of sel) {
        if (PROMETHEUS_SERIES.has(s.name)) continue;
        checked += 1;
        if (!matchesSome(s, exported)) missing.push(`${q.where}: ${describe(s)}`);
      }
    }
    const names = [...new Set(exported.map((s) => s.name))].sort();
    assert.deepEqual(missing, [], `not exported by the gateway (it exports: ${names.join(', ')})`);
    assert.ok(checked >= 20, `checked ${checked} selectors`);
  }),
);
