// Runs the real presence_server with a manifest's arguments (listening on
// free local ports instead) and asks it what the kubelet and Prometheus
// would: gRPC health per probe service name (through `buf curl`), the metrics
// path. Every started server is killed when this process exits.
//
//   const server = await startServer(binary, args);
//   await healthStatus(buf, server.grpcPort, "");  // "SERVING"
//   await server.stop();                           // exit code after SIGTERM

import { execFile, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

// Returns a local TCP port nothing listens on (it was free a moment ago).
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Starts the server with args followed by local addresses on free ports and
// resolves once it logged both ports (and, with waitFor, a log line matching
// it). Rejects with the server's log if it exits or takes longer than 20 s.
export function startServer(binary, args, { waitFor = null } = {}) {
  const child = spawn(
    binary,
    [...args, "--listen_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0",
     ...(args.some((a) => a.startsWith("--http_address=")) ? ["--http_address=127.0.0.1:0"] : [])],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  running.add(child);
  let log = "";
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal);
    }),
  );
  const server = {
    log: () => log,
    // Sends SIGTERM; resolves to the exit code (or "timeout" after
    // timeoutMs, then the process is killed).
    stop: async (timeoutMs) => {
      child.kill("SIGTERM");
      let timer;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs, "timeout");
      });
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (result === "timeout") child.kill("SIGKILL");
      return result;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server not up after 20 s; its log:\n${log}`));
    }, 20000);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const grpc = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      const metrics = /metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
      if (grpc && metrics && (!waitFor || waitFor.test(log))) {
        clearTimeout(timer);
        resolve({ ...server, grpcPort: Number(grpc[1]), metricsPort: Number(metrics[1]) });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before it was up; its log:\n${log}`));
    });
  });
}

// Resolves to the grpc.health.v1 status of service ("SERVING", ...) or to
// the error the server answered (e.g. "not_found: service name unknown").
export async function healthStatus(buf, port, service) {
  const args = [
    "curl", "--protocol", "grpc", "--http2-prior-knowledge",
    "-d", JSON.stringify({ service }),
    `http://127.0.0.1:${port}/grpc.health.v1.Health/Check`,
  ];
  try {
    const { stdout } = await execFileAsync(buf, args, { timeout: 20000 });
    return JSON.parse(stdout).status ?? "UNKNOWN";
  } catch (error) {
    try {
      const answer = JSON.parse(error.stdout || error.stderr);
      return `${answer.code}: ${answer.message}`;
    } catch {
      return `buf curl failed: ${(error.stderr || error.message).trim()}`;
    }
  }
}

// Resolves to the HTTP status code of GET http://127.0.0.1:port<path>.
export function httpStatus(port, path) {
  return new Promise((resolve) => {
    const request = http.get({ host: "127.0.0.1", port, path, timeout: 20000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", (error) => resolve(error.message));
  });
}
