// A real gateway and a simulated fleet for end-to-end tests, started on
// 127.0.0.1 with ports picked by the kernel, with all state in a fresh
// temporary directory: the gateway (tinyfleet-gateway), the operator CLI
// (tinyfleet) and N agent + virtual-node pairs (tinyfleet-fleetsim) sending
// telemetry. Logs go to `logDir`, so they stay with the test's artifacts.
//
// Waits are for conditions (a line printed, a command that succeeds, a
// metric that appears), each with a deadline; none is a fixed sleep.
import { spawn, execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Resolves once `predicate` (sync or async) returns a truthy value, which is
// returned; polls every `every` ms and rejects with `what` after `timeout`.
export async function waitFor(what, predicate, { timeout = 30000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (last ? `: ${last.message}` : ''));
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// A child process whose output is kept in a log file and in memory.
function startProcess(name, bin, args, { logDir, env }) {
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { name, child, stdout: '', exited: null };
  child.stdout.on('data', (d) => {
    proc.stdout += d;
    log.write(d);
  });
  child.stderr.on('data', (d) => log.write(d));
  child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
    log.end();
  });
  return proc;
}

async function stopProcess(proc) {
  if (!proc || proc.exited) return;
  const done = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10000);
  await done;
  clearTimeout(timer);
}

export class Fleet {
  // build: the CMake build directory; logDir: where logs go (created).
  constructor({ build, logDir, agents = 4, heartbeatMs = 1000, telemetryMs = 500 }) {
    this.build = build;
    this.logDir = logDir;
    this.agents = agents;
    this.heartbeatMs = heartbeatMs;
    this.telemetryMs = telemetryMs;
    this.dir = mkdtempSync(join(tmpdir(), 'tinyfleet-e2e-'));
    mkdirSync(logDir, { recursive: true });
    this.procs = [];
  }

  get gatewayBin() {
    return join(this.build, 'server/main/tinyfleet-gateway');
  }

  // Starts the gateway and waits until it answers the CLI.
  async startGateway() {
    const gw = startProcess(
      'gateway',
      this.gatewayBin,
      [
        '--listen', '127.0.0.1:0',
        '--http-listen', '127.0.0.1:0',
        '--data-dir', join(this.dir, 'gateway'),
        '--heartbeat-ms', String(this.heartbeatMs),
        '--log-level', 'info',
      ],
      { logDir: this.logDir },
    );
    this.procs.push(gw);
    const m = await waitFor(
      'the gateway to print its ports',
      () => {
        if (gw.exited) throw new Error(`the gateway exited (${JSON.stringify(gw.exited)})`);
        return /grpc_port=(\d+) http_port=(\d+)/.exec(gw.stdout);
      },
      { timeout: 30000 },
    );
    this.grpcPort = Number(m[1]);
    this.httpPort = Number(m[2]);
    this.url = `http://127.0.0.1:${this.httpPort}`;
    this.env = {
      TINYFLEET_ADDRESS: `127.0.0.1:${this.grpcPort}`,
      TINYFLEET_CA: join(this.dir, 'gateway/pki/ca.crt'),
      TINYFLEET_TOKEN_FILE: join(this.dir, 'gateway/admin.token'),
    };
    await waitFor('the gateway to answer the CLI', () => this.cli(['whoami']).then(() => true), {
      timeout: 30000,
    });
  }

  // Runs the CLI with the admin token; resolves to stdout, rejects with
  // stderr. With json, parses the answer.
  async cli(args, { json = false, timeoutS = 60 } = {}) {
    const argv = ['--timeout', String(timeoutS), ...(json ? ['--json'] : []), ...args];
    try {
      const { stdout } = await run(join(this.build, 'server/cli/tinyfleet'), argv, {
        env: { ...process.env, ...this.env },
        maxBuffer: 64 << 20,
      });
      return json ? JSON.parse(stdout) : stdout;
    } catch (e) {
      throw new Error(`tinyfleet ${argv.join(' ')} failed: ${e.stderr || e.message}`);
    }
  }

  // Creates an operator token; resolves to its secret.
  async operatorToken(name, role) {
    const r = await this.cli(['operators', 'create', name, '--role', role], { json: true });
    if (!r.secret) throw new Error(`no secret in ${JSON.stringify(r)}`);
    return r.secret;
  }

  // Enrolls and starts the simulated fleet (label e2e=fleet); waits until
  // every node is online.
  async startFleet() {
    const tokens = join(this.dir, 'tokens.txt');
    await this.cli([
      'tokens', 'create', '--count', String(this.agents), '--ttl', '1h',
      '--label', 'e2e=fleet', '--out', tokens,
    ]);
    const fs = startProcess(
      'fleetsim',
      join(this.build, 'agent/fleetsim/tinyfleet-fleetsim'),
      [
        '--agents', String(this.agents),
        '--gateway', `127.0.0.1:${this.grpcPort}`,
        '--ca', this.env.TINYFLEET_CA,
        '--state-dir', join(this.dir, 'fleet'),
        '--tokens-file', tokens,
        '--telemetry-ms', String(this.telemetryMs),
        '--report-ms', '0',
        '--threads', '1',
        '--enroll-threads', '2',
      ],
      { logDir: this.logDir },
    );
    this.procs.push(fs);
    await waitFor(
      `all ${this.agents} simulated nodes online`,
      () => {
        if (fs.exited) throw new Error(`fleetsim exited (${JSON.stringify(fs.exited)})`);
        return fs.stdout.includes(`all ${this.agents} nodes online`);
      },
      { timeout: 60000 },
    );
  }

  // The gateway's /metrics text.
  async metrics() {
    const res = await fetch(`${this.url}/metrics`);
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    return res.text();
  }

  // Stops every process (newest first) and removes the state directory.
  async stop({ keep = false } = {}) {
    for (const p of [...this.procs].reverse()) await stopProcess(p);
    this.procs = [];
    if (keep) {
      writeFileSync(join(this.logDir, 'state-dir.txt'), this.dir + '\n');
    } else {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
