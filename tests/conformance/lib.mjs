// Shared by the conformance tests: starts stampede-lambda from
// $STAMPEDE_BIN on 127.0.0.1:0, reads its ready line, and stops exactly
// the processes it started (by pid) when the test ends. A client that is
// not installed (tests/conformance/node_modules, `make deps`) makes the
// test exit 77, which ctest reports as skipped and `make test` refuses.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SKIPPED = 77;
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.STAMPEDE_BIN || '';
export const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:';
const READY = /stampede-lambda listening on (http:\/\/127\.0\.0\.1:\d+)/;
const require = createRequire(path.join(HERE, 'package.json'));

// The installed package `name`'s directory, or exit 77 when it is missing.
export function installed(name) {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch (error) {
    process.stdout.write(`# skipped: ${name} is not installed in tests/conformance (make deps)\n`);
    process.exit(SKIPPED);
  }
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// A fresh temporary directory, removed by the returned cleanup.
export function tempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'stampede-conformance-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// Starts stampede-lambda with `args` (after --listen); resolves to
// { url, port, stop } once it printed its ready line (30 s at most).
// stop() sends SIGTERM and resolves to the exit code (SIGKILL after 10 s).
export function startLambda(args, env = {}) {
  const child = spawn(path.join(BIN, 'stampede-lambda'), ['--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve(code ?? signal);
  }));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('stampede-lambda printed no ready line in 30 s')), 30000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(READY);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], port: Number(match[1].split(':')[2]), stop });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stampede-lambda exited (${code}) before it was ready`));
    });
  });
}

// Polls predicate() every 100 ms until it resolves truthy (timeoutMs at most).
export async function waitUntil(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
