'use strict';
// Starts the presence_server binary (PRESENCE_SERVER) with gRPC and the
// PubNub HTTP API on free ports, for the tests of this folder.
//
//   const server = await startServer(['--min_timeout_seconds=1']);
//   server.origin;  // '127.0.0.1:<port>' for new PubNub({origin, ssl: false})
//   server.grpc;    // '127.0.0.1:<port>'
//   await server.stop();  // SIGTERM; resolves with the exit code
//
// PRESENCE_SERVER_FLAGS (space-separated) adds flags to every server, e.g.
// "--store=redis --redis_url=redis://127.0.0.1:6390" to run a suite on Redis.

const { spawn } = require('node:child_process');

const START_TIMEOUT_MS = 20000; // A hang guard, not a timing assertion.

function startServer(flags = []) {
  const binary = process.env.PRESENCE_SERVER;
  if (!binary) throw new Error('PRESENCE_SERVER is not set: run tests/pubnub/run_node_test.sh');
  const child = spawn(
    binary,
    ['--listen_address=127.0.0.1:0', '--http_address=127.0.0.1:0', ...flags,
      ...(process.env.PRESENCE_SERVER_FLAGS ?? '').split(' ').filter(Boolean)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`presence_server did not start:\n${log}`)), START_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const grpc = /listening on (127\.0\.0\.1:\d+)/.exec(log);
      const http = /PubNub HTTP API on http:\/\/(127\.0\.0\.1:\d+)/.exec(log);
      if (!grpc || !http) return;
      clearTimeout(timer);
      const metrics = /metrics on http:\/\/(127\.0\.0\.1:\d+)\/metrics/.exec(log);
      resolve({
        grpc: grpc[1],
        origin: http[1],
        base: `http://${http[1]}`,
        metrics: metrics ? `http://${metrics[1]}/metrics` : null,
        child,
        log: () => log,
        exited,
        stop: async () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`presence_server exited (${code}) before listening:\n${log}`));
    });
  });
}

module.exports = { startServer };
