// Browser end-to-end test of the dashboard: Debian's Chromium, driven by
// playwright-core, against a real gateway and a simulated fleet started by
// the test (see fleet.mjs). It signs in with operator tokens, checks that
// the fleet page lists every simulated node online, that a device's
// telemetry chart has points, that a rollout created through the CLI shows
// up and progresses through Server-Sent Events without a reload, that an
// operator can pause, resume and abort a rollout, that a viewer is offered
// no such action and is refused by the gateway when trying anyway, and that
// the rounds page answers.
//
// Environment: TF_BUILD_DIR (the CMake build directory), TF_SOURCE_DIR,
// TF_ARTIFACTS_DIR (screenshots and logs are kept there). Exits 77 (ctest:
// skipped) when /usr/bin/chromium is missing. Every wait is for a page or
// process condition with a timeout, never a fixed sleep.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is missing (deploy/install-deps.sh installs Debian's chromium)`);
  process.exit(77);
}

const { chromium } = await import('playwright-core');
const { Fleet, waitFor } = await import('./fleet.mjs');

const build = process.env.TF_BUILD_DIR;
const source = process.env.TF_SOURCE_DIR;
const artifacts = process.env.TF_ARTIFACTS_DIR || join(process.cwd(), 'artifacts');
assert.ok(build && source, 'TF_BUILD_DIR and TF_SOURCE_DIR must be set');
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

const AGENTS = 4;
const UI_TIMEOUT = 30000;
const fleet = new Fleet({ build, logDir: join(artifacts, 'logs'), agents: AGENTS });
let context; // one Chromium, a fresh profile
let profile;
let operatorToken;
let viewerToken;
let page; // the operator's tab
let failed = false;

async function screenshot(p, name) {
  await p.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// Signs in on a fresh tab (each tab has its own session storage).
async function signIn(token) {
  const p = await context.newPage();
  p.setDefaultTimeout(UI_TIMEOUT);
  p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await p.goto(fleet.url + '/');
  await p.locator('#token').fill(token);
  await p.locator('#login-form button[type=submit]').click();
  await p.locator('#who').waitFor({ state: 'visible' });
  await p.locator('#live[data-state="live"]').waitFor();
  return p;
}

before(async () => {
  await fleet.startGateway();
  operatorToken = await fleet.operatorToken('e2e-operator', 'operator');
  viewerToken = await fleet.operatorToken('e2e-viewer', 'viewer');
  await fleet.startFleet();
  profile = mkdtempSync(join(tmpdir(), 'tinyfleet-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
  });
});

after(async () => {
  if (context) await context.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await fleet.stop({ keep: failed });
});

function guard(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      const open = context?.pages() || [];
      for (const [i, p] of open.entries()) {
        await screenshot(p, `failure-${t.name.replace(/\W+/g, '-')}-${i}`).catch(() => {});
      }
      throw e;
    }
  };
}

test(
  'a wrong token is refused and an operator token signs in',
  guard(async () => {
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(fleet.url + '/');
    await page.locator('#token').fill('tfo_not-a-token');
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#login-error').filter({ hasText: 'refused' }).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    await screenshot(page, 'login-refused');

    await page.locator('#token').fill(operatorToken);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#who').filter({ hasText: 'e2e-operator · operator' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    assert.equal(await page.locator('#nav').isVisible(), true);
  }),
);

test(
  'the fleet page lists every simulated node, online',
  guard(async () => {
    const listed = await fleet.cli(['devices', 'list'], { json: true });
    const ids = (listed.devices || []).map((d) => d.device_id).sort();
    assert.equal(ids.length, AGENTS);
    const rows = page.locator('#devices tr[data-device-id]');
    await waitFor(`${AGENTS} device rows`, async () => (await rows.count()) === AGENTS, {
      timeout: UI_TIMEOUT,
    });
    const shown = (await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.deviceId))).sort();
    assert.deepEqual(shown, ids);
    await waitFor(
      'every row online',
      async () => (await page.locator('#devices tr[data-connectivity="online"]').count()) === AGENTS,
      { timeout: UI_TIMEOUT },
    );
    await page.locator('#count-online').filter({ hasText: new RegExp(`^${AGENTS}$`) }).waitFor();
    await page.locator('#count-offline').filter({ hasText: /^0$/ }).waitFor();
    // The search box narrows the table to one device.
    await page.locator('#search').fill(ids[0]);
    await page.locator('#shown').filter({ hasText: `1 of ${AGENTS} devices` }).waitFor();
    assert.equal(await rows.count(), 1);
    await page.locator('#search').fill('');
    await page.locator('#shown').filter({ hasText: `${AGENTS} devices` }).waitFor();
    await screenshot(page, 'fleet');
  }),
);

test(
  "a device's telemetry chart has points",
  guard(async () => {
    const first = page.locator('#devices tr[data-device-id] a').first();
    const id = await first.textContent();
    await first.click();
    await page.waitForURL(`**/#/devices/${id}`);
    await page.locator('#device-state').filter({ hasText: 'online' }).waitFor();
    // The view refreshes short ranges every 10 s; records arrive every
    // 500 ms, so points show up on the first or second load.
    const chart = page.locator('#chart-inferences');
    await waitFor(
      'points in the inferences chart',
      async () => Number(await chart.getAttribute('data-points')) > 0,
      { timeout: UI_TIMEOUT },
    );
    assert.equal(await chart.locator('canvas').count() > 0, true);
    await screenshot(page, 'device');
  }),
);

let liveRollout; // the rollout the operator and the viewer act on

test(
  "a rollout's progress moves on the page through live events, without a reload",
  guard(async () => {
    const push = await fleet.cli(
      [
        'models', 'push', join(source, 'tests/fixtures/kws/ds_cnn_s.onnx'),
        '--name', 'kws', '--calib', join(source, 'tests/fixtures/kws/kws_calib.tnfs'),
      ],
      { json: true, timeoutS: 300 },
    );
    assert.equal(push.ref, 'kws:1');

    await page.goto(fleet.url + '/#/rollouts');
    await page.locator('#rollouts-status').filter({ hasText: 'No rollouts yet' }).waitFor();
    await page.locator('#live[data-state="live"]').waitFor();
    // From here on the rollout list cannot be fetched again: whatever the
    // page learns, it learns from the event stream. A marker on window
    // shows that the page is never reloaded.
    let blocked = 0;
    await page.route(/\/api\/v1\/rollouts(\?|$)/, (route) => {
      blocked += 1;
      return route.abort();
    });
    await page.evaluate(() => {
      window.__tfMarker = 'same page';
      window.__tfConfirmed = [];
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('#rollouts .progress')) {
          window.__tfConfirmed.push(Number(bar.dataset.confirmed));
        }
      }).observe(document.getElementById('rollouts'), { childList: true, subtree: true });
    });

    const created = await fleet.cli(
      ['rollouts', 'create', 'kws:1', '--selector', 'e2e=fleet', '--waves', '50,100', '--soak', '1s'],
      { json: true },
    );
    const card = page.locator(`article[data-rollout-id="${created.rollout_id}"]`);
    await card.waitFor();
    await page
      .locator(`article[data-rollout-id="${created.rollout_id}"][data-state="completed"]`)
      .waitFor({ timeout: 60000 });
    const bar = card.locator('.progress');
    assert.equal(await bar.getAttribute('data-targeted'), String(AGENTS));
    assert.equal(await bar.getAttribute('data-confirmed'), String(AGENTS));
    const seen = await page.evaluate(() => window.__tfConfirmed);
    assert.ok(
      seen.some((n) => n < AGENTS),
      `the page should have shown the rollout before it finished (saw ${JSON.stringify(seen)})`,
    );
    assert.ok(new Set(seen).size >= 2, `progress should move (saw ${JSON.stringify(seen)})`);
    assert.equal(await page.evaluate(() => window.__tfMarker), 'same page');
    const truth = await fleet.cli(['rollouts', 'show', created.rollout_id], { json: true });
    assert.equal(truth.state, 'ROLLOUT_STATE_COMPLETED');
    await screenshot(page, 'rollout-completed');
    await page.unroute(/\/api\/v1\/rollouts(\?|$)/);
    console.log(`rollout list requests blocked while watching: ${blocked}`);
  }),
);

test(
  'an operator pauses a rollout; a viewer sees it without actions and is refused',
  guard(async () => {
    // A long soak keeps this rollout running after its first wave.
    liveRollout = (
      await fleet.cli(
        ['rollouts', 'create', 'kws:1', '--selector', 'e2e=fleet', '--waves', '50,100', '--soak', '10m'],
        { json: true },
      )
    ).rollout_id;
    const card = page.locator(`article[data-rollout-id="${liveRollout}"]`);
    await card.waitFor();
    await page.locator(`article[data-rollout-id="${liveRollout}"][data-state="running"]`).waitFor();
    await card.locator('button[data-action="pause"]').click();
    await page.locator(`article[data-rollout-id="${liveRollout}"][data-state="paused"]`).waitFor();
    await card.locator('button[data-action="resume"]').waitFor();
    assert.equal((await fleet.cli(['rollouts', 'show', liveRollout], { json: true })).state, 'ROLLOUT_STATE_PAUSED');

    const viewer = await signIn(viewerToken);
    await viewer.locator('#who').filter({ hasText: 'e2e-viewer · viewer' }).waitFor();
    await viewer.goto(fleet.url + '/#/rollouts');
    const seenByViewer = viewer.locator(`article[data-rollout-id="${liveRollout}"][data-state="paused"]`);
    await seenByViewer.waitFor();
    assert.equal(await viewer.locator('#rollouts button[data-action]').count(), 0);
    await screenshot(viewer, 'rollouts-viewer');
    // Trying anyway, with the viewer's own token, from the viewer's page.
    const status = await viewer.evaluate(async (id) => {
      const token = sessionStorage.getItem('tinyfleet.token');
      const res = await fetch(`/api/v1/rollouts/${id}/resume`, {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
        body: '{}',
      });
      return res.status;
    }, liveRollout);
    assert.equal(status, 403);
    assert.equal((await fleet.cli(['rollouts', 'show', liveRollout], { json: true })).state, 'ROLLOUT_STATE_PAUSED');

    // The operator resumes; the viewer's page follows through events.
    await card.locator('button[data-action="resume"]').click();
    await page.locator(`article[data-rollout-id="${liveRollout}"][data-state="running"]`).waitFor();
    await viewer.locator(`article[data-rollout-id="${liveRollout}"][data-state="running"]`).waitFor();
    await viewer.close();
  }),
);

test(
  'an operator aborts a rollout after confirming',
  guard(async () => {
    const card = page.locator(`article[data-rollout-id="${liveRollout}"]`);
    const abort = card.locator('button[data-action="abort"]');
    await abort.click();
    // The first click only asks for confirmation.
    await card.locator('button[data-action="abort"][data-confirm="true"]').waitFor();
    assert.equal((await fleet.cli(['rollouts', 'show', liveRollout], { json: true })).state, 'ROLLOUT_STATE_RUNNING');
    await screenshot(page, 'rollout-abort-confirm');
    await card.locator('button[data-action="abort"][data-confirm="true"]').click();
    await page.locator(`article[data-rollout-id="${liveRollout}"][data-state="aborted"]`).waitFor();
    await card.locator('.reason').filter({ hasText: 'aborted by e2e-operator' }).waitFor();
    assert.equal(await card.locator('button[data-action]').count(), 0);
    const truth = await fleet.cli(['rollouts', 'show', liveRollout], { json: true });
    assert.equal(truth.state, 'ROLLOUT_STATE_ABORTED');
    await screenshot(page, 'rollouts');
  }),
);

test(
  'the rounds page answers (no round has run on this gateway)',
  guard(async () => {
    await page.goto(fleet.url + '/#/rounds');
    await page.locator('#rounds-status').filter({ hasText: 'No rounds yet.' }).waitFor();
    assert.equal(await page.locator('#rounds-status').getAttribute('data-unavailable'), null);
    assert.equal(await page.locator('#rounds-chart').isVisible(), false);
  }),
);
