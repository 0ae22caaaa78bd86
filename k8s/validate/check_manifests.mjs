// Checks the rendered Kubernetes manifests and the root Dockerfile against
// the Kubernetes schemas and against the real presence_server binary.
// k8s/manifests_test.sh renders the overlays and runs it:
//
//   node check_manifests.mjs --binary=PATH --rootpath=service/presence_server \
//     --dockerfile=PATH --buf=PATH embedded=RENDERED.yaml redis=RENDERED.yaml
//
// Prints a FAIL line per failed check, naming the overlay, the object and the
// field, then "N checks passed, N failed"; exits 1 if any failed.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";

import { instructions, owners, parseDockerfile, runtimeImage, sharedLibraries } from "./dockerfile.mjs";
import { schemaProblems } from "./schema.mjs";
import { closedPort, healthStatus, httpStatus, startServer } from "./server_run.mjs";

// Health service names the probes must use (the reasons are in checkServer).
const READINESS_SERVICE = "";
const LIVENESS_SERVICE = "liveness";
// The store each overlay must run.
const OVERLAY_STORE = { embedded: "memory", redis: "redis" };
// Runtime packages that own no linked library, and why the image needs them.
const EXTRA_RUNTIME_PACKAGES = {
  "ca-certificates": "libcurl reads the CA bundle at run time for HTTPS webhooks",
};
const ALL_INTERFACES = new Set(["0.0.0.0", "[::]"]);

let passed = 0;
let failed = 0;

// Counts a check; prints where it failed and why. Returns ok.
function expect(ok, where, message) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log(`FAIL ${where}: ${message}`);
  }
  return Boolean(ok);
}

function at(overlay, object, field = "") {
  return `[${overlay}] ${object.kind}/${object.metadata?.name}${field ? ` ${field}` : ""}`;
}

// --- The server binary -------------------------------------------------------

// Returns flag name -> default value, from --helpfull.
function serverFlags(binary) {
  const help = spawnSync(binary, ["--helpfull"], { encoding: "utf8" }).stdout.replace(/\s+/g, " ");
  const flags = new Map();
  for (const match of help.matchAll(/--(\w+) \((.*?)\); default: (.*?);/g)) {
    flags.set(match[1], match[3].replace(/^"(.*)"$/, "$1"));
  }
  return flags;
}

// Returns [{arg, name, value}] (name null for something that is no --flag).
function parseFlags(args) {
  return args.map((arg) => {
    const match = /^--([A-Za-z0-9_]+)(?:=(.*))?$/.exec(arg);
    return { arg, name: match?.[1] ?? null, value: match?.[2] ?? null };
  });
}

function knownFlag(flags, name) {
  return flags.has(name) || (name.startsWith("no") && flags.has(name.slice(2)));
}

// Returns the value the server would use: the last occurrence in args, or
// the flag's default.
function flagValue(flags, args, name) {
  const given = parseFlags(args).filter((f) => f.name === name);
  return given.length ? given.at(-1).value : flags.get(name);
}

// Returns the exit status and stderr of parsing args (the server parses all
// flags, then --version prints and exits 0).
function parseWithServer(binary, args) {
  const result = spawnSync(binary, [...args, "--version"], { encoding: "utf8" });
  return { ok: result.status === 0, error: (result.stderr ?? "").trim() };
}

// Returns seconds of an absl duration ("10s", "1m30s", "500ms"), or NaN.
function durationSeconds(text) {
  if (text === "0") return 0;
  const units = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  let seconds = 0;
  let rest = text ?? "";
  while (rest) {
    const match = /^(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)/.exec(rest);
    if (!match) return NaN;
    seconds += Number(match[1]) * units[match[2]];
    rest = rest.slice(match[0].length);
  }
  return text ? seconds : NaN;
}

// "0.0.0.0:50051" -> {host: "0.0.0.0", port: 50051}.
function hostPort(address) {
  const match = /^(.*):(\d+)$/.exec(address ?? "");
  return match ? { host: match[1], port: Number(match[2]) } : { host: null, port: null };
}

// --- Objects -----------------------------------------------------------------

function labelsOf(object) {
  return object.metadata?.labels ?? {};
}

// Whether a LabelSelector selects these labels (an empty or missing selector
// selects nothing here: none of ours should be one).
function selects(selector, labels) {
  const { matchLabels = {}, matchExpressions = [] } = selector ?? {};
  if (!Object.keys(matchLabels).length && !matchExpressions.length) return false;
  const byLabels = Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
  const byExpressions = matchExpressions.every(({ key, operator, values = [] }) => {
    switch (operator) {
      case "In": return values.includes(labels[key]);
      case "NotIn": return !values.includes(labels[key]);
      case "Exists": return key in labels;
      case "DoesNotExist": return !(key in labels);
      default: return false;
    }
  });
  return byLabels && byExpressions;
}

const isWorkload = (o) => o.kind === "Deployment" || o.kind === "StatefulSet";
const templateLabels = (w) => w.spec?.template?.metadata?.labels ?? {};
const containersOf = (w) => w.spec?.template?.spec?.containers ?? [];

// Returns the containerPort a Service/NetworkPolicy/probe port reference
// (name or number) means in these containers, or undefined.
function resolvePort(containers, reference) {
  for (const container of containers) {
    for (const port of container.ports ?? []) {
      if (port.name === reference || port.containerPort === reference) return port;
    }
  }
  return undefined;
}

// The presence server: the workload named presence, its container presence.
function findServer(objects) {
  const workloads = objects.filter(
    (o) => isWorkload(o) && templateLabels(o)["app.kubernetes.io/name"] === "presence",
  );
  if (workloads.length !== 1) return { workloads };
  const workload = workloads[0];
  const container = containersOf(workload).find((c) => c.name === "presence");
  return { workloads, workload, container };
}

// --- Checks of one rendered overlay -------------------------------------------

async function checkSchemas(overlay, objects) {
  for (const object of objects) {
    const problems = await schemaProblems(object);
    expect(!problems.length, at(overlay, object), `schema: ${problems.join("; ")}`);
  }
}

function checkLabels(overlay, objects) {
  for (const object of objects) {
    const labels = labelsOf(object);
    expect(labels["app.kubernetes.io/part-of"] === "presence", at(overlay, object, "metadata.labels"),
      'needs app.kubernetes.io/part-of: presence');
    expect(labels["app.kubernetes.io/name"], at(overlay, object, "metadata.labels"),
      "needs app.kubernetes.io/name");
    // Only the presence server's own objects are production material; the
    // rest is the demo Redis and must say so.
    if (labels["app.kubernetes.io/name"] !== "presence") {
      expect(labels["not-for-production"] === "true", at(overlay, object, "metadata.labels"),
        'a demo object must carry not-for-production: "true"');
    }
  }
  const workloads = objects.filter(isWorkload);
  for (const workload of workloads) {
    expect(selects(workload.spec?.selector, templateLabels(workload)),
      at(overlay, workload, "spec.selector"), "does not select the pod template's labels");
    for (const [key, value] of Object.entries(labelsOf(workload))) {
      if (key.startsWith("app.kubernetes.io/")) {
        expect(templateLabels(workload)[key] === value, at(overlay, workload, "spec.template.metadata.labels"),
          `missing the workload's label ${key}: ${value}`);
      }
    }
    for (const [i, constraint] of (workload.spec.template.spec.topologySpreadConstraints ?? []).entries()) {
      expect(selects(constraint.labelSelector, templateLabels(workload)),
        at(overlay, workload, `spec.template.spec.topologySpreadConstraints[${i}].labelSelector`),
        "does not select the workload's own pods");
    }
  }

  // Returns the single workload a selector picks, failing otherwise.
  const selected = (object, field, selector) => {
    const matches = workloads.filter((w) => selects(selector, templateLabels(w)));
    expect(matches.length === 1, at(overlay, object, field),
      `selects ${matches.length} workloads (${matches.map((w) => w.metadata.name).join(", ") || "none"}),` +
        " expected exactly 1");
    return matches.length === 1 ? matches[0] : null;
  };

  for (const service of objects.filter((o) => o.kind === "Service")) {
    const workload = selected(service, "spec.selector", { matchLabels: service.spec?.selector ?? {} });
    if (!workload) continue;
    for (const [i, port] of (service.spec.ports ?? []).entries()) {
      const target = port.targetPort ?? port.port;
      expect(resolvePort(containersOf(workload), target), at(overlay, service, `spec.ports[${i}].targetPort`),
        `${target} is no container port of ${workload.kind}/${workload.metadata.name}`);
    }
  }
  for (const set of workloads.filter((w) => w.kind === "StatefulSet")) {
    expect(objects.some((o) => o.kind === "Service" && o.metadata.name === set.spec.serviceName),
      at(overlay, set, "spec.serviceName"), `no Service ${set.spec.serviceName}`);
  }
  for (const budget of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
    selected(budget, "spec.selector", budget.spec?.selector);
    const { maxUnavailable, minAvailable } = budget.spec ?? {};
    expect(maxUnavailable !== undefined ? maxUnavailable !== 0 && maxUnavailable !== "0%" : minAvailable !== undefined,
      at(overlay, budget, "spec"), "must allow a disruption (maxUnavailable > 0), or node drains block forever");
  }
  for (const policy of objects.filter((o) => o.kind === "NetworkPolicy")) {
    const workload = selected(policy, "spec.podSelector", policy.spec?.podSelector);
    expect((policy.spec?.policyTypes ?? []).includes("Ingress"), at(overlay, policy, "spec.policyTypes"),
      "must include Ingress");
    if (!workload) continue;
    const admitted = new Set();
    for (const [i, rule] of (policy.spec.ingress ?? []).entries()) {
      expect(rule.ports?.length, at(overlay, policy, `spec.ingress[${i}].ports`),
        "a rule without ports admits every port");
      for (const [j, port] of (rule.ports ?? []).entries()) {
        const resolved = resolvePort(containersOf(workload), port.port);
        if (expect(resolved, at(overlay, policy, `spec.ingress[${i}].ports[${j}].port`),
          `${port.port} is no container port of ${workload.kind}/${workload.metadata.name}`)) {
          admitted.add(resolved.name ?? resolved.containerPort);
        }
      }
      for (const [j, peer] of (rule.from ?? []).entries()) {
        if (peer.podSelector && !peer.namespaceSelector) {
          expect(workloads.some((w) => selects(peer.podSelector, templateLabels(w))),
            at(overlay, policy, `spec.ingress[${i}].from[${j}].podSelector`), "selects no workload");
        }
      }
    }
    const declared = containersOf(workload).flatMap((c) => c.ports ?? []).map((p) => p.name ?? p.containerPort);
    expect(declared.every((p) => admitted.has(p)) && admitted.size === declared.length,
      at(overlay, policy, "spec.ingress"),
      `admits ports [${[...admitted]}], expected exactly the container ports [${declared}]`);
  }
  for (const hpa of objects.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
    const ref = hpa.spec?.scaleTargetRef ?? {};
    const target = objects.find(
      (o) => o.kind === ref.kind && o.apiVersion === ref.apiVersion && o.metadata.name === ref.name,
    );
    const found = expect(target, at(overlay, hpa, "spec.scaleTargetRef"),
      `no ${ref.apiVersion} ${ref.kind}/${ref.name}`);
    if (!found) continue;
    expect(target.spec.replicas === undefined, at(overlay, target, "spec.replicas"),
      `must be unset: HorizontalPodAutoscaler/${hpa.metadata.name} owns the count (apply would reset it)`);
    expect((hpa.spec.minReplicas ?? 1) <= hpa.spec.maxReplicas, at(overlay, hpa, "spec.minReplicas"),
      "exceeds maxReplicas");
    if ((hpa.spec.metrics ?? []).some((m) => m.resource?.name === "cpu")) {
      for (const container of containersOf(target)) {
        expect(container.resources?.requests?.cpu,
          at(overlay, target, `spec.template.spec.containers[${container.name}].resources.requests.cpu`),
          "a CPU-utilization autoscaler needs a CPU request");
      }
    }
  }
}

function checkSecurity(overlay, objects) {
  for (const workload of objects.filter(isWorkload)) {
    const pod = workload.spec.template.spec;
    const podContext = pod.securityContext ?? {};
    for (const container of pod.containers ?? []) {
      const context = container.securityContext ?? {};
      const field = (f) => `spec.template.spec.containers[${container.name}].${f}`;
      const where = (f) => at(overlay, workload, field(f));
      const effective = (key) => context[key] ?? podContext[key];
      expect(effective("runAsNonRoot") === true, where("securityContext.runAsNonRoot"), "must be true");
      const uid = effective("runAsUser");
      expect(Number.isInteger(uid) && uid > 0, where("securityContext.runAsUser"),
        `must be a numeric non-root uid (is ${uid})`);
      expect(context.readOnlyRootFilesystem === true, where("securityContext.readOnlyRootFilesystem"), "must be true");
      expect(context.allowPrivilegeEscalation === false, where("securityContext.allowPrivilegeEscalation"),
        "must be false");
      expect((context.capabilities?.drop ?? []).includes("ALL"), where("securityContext.capabilities.drop"),
        "must drop ALL");
      expect((context.seccompProfile ?? podContext.seccompProfile)?.type === "RuntimeDefault",
        where("securityContext.seccompProfile"), "must be RuntimeDefault (pod or container)");
      for (const kind of ["requests", "limits"]) {
        for (const resource of ["cpu", "memory"]) {
          expect(container.resources?.[kind]?.[resource] !== undefined,
            where(`resources.${kind}.${resource}`), "must be set");
        }
      }
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const action = container[probe] ?? {};
        const port = action.grpc?.port ?? action.tcpSocket?.port ?? action.httpGet?.port;
        if (port !== undefined) {
          expect(resolvePort([container], port), where(probe), `port ${port} is no container port`);
        }
      }
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === ref.name);
        const refField = where(`env[${variable.name}].valueFrom.secretKeyRef`);
        if (expect(secret, refField, `no Secret ${ref.name} in the overlay`)) {
          expect(ref.key in (secret.data ?? {}) || ref.key in (secret.stringData ?? {}),
            where(`env[${variable.name}].valueFrom.secretKeyRef.key`), `Secret ${ref.name} has no key ${ref.key}`);
        }
      }
    }
  }
}

// The presence server's container against the binary. Returns what later
// checks need, or null.
function checkServer(overlay, objects, binary, flags) {
  const { workloads, workload, container } = findServer(objects);
  if (!expect(workload && container, `[${overlay}]`,
    `expected one presence workload with a container "presence", found ${workloads.length} workloads`)) {
    return null;
  }
  const pod = workload.spec.template.spec;
  const where = (f) => at(overlay, workload, f);
  const field = (f) => `spec.template.spec.containers[presence].${f}`;
  const args = container.args ?? [];
  const value = (name) => flagValue(flags, args, name);

  expect(!container.command, where(field("command")), "must be unset: the image's ENTRYPOINT is the server");
  for (const [i, flag] of parseFlags(args).entries()) {
    if (!expect(flag.name, where(field(`args[${i}]`)), `"${flag.arg}" is not a --flag=value`)) continue;
    expect(knownFlag(flags, flag.name), where(field(`args[${i}]`)),
      `--${flag.name} is not a flag of presence_server (see --helpfull)`);
    for (const [, variable] of flag.arg.matchAll(/\$\((\w+)\)/g)) {
      expect((container.env ?? []).some((e) => e.name === variable), where(field(`args[${i}]`)),
        `$(${variable}) is not in the container's env, so Kubernetes passes it literally`);
    }
  }
  const parsed = parseWithServer(binary, args);
  expect(parsed.ok, where(field("args")), `presence_server rejects them: ${parsed.error}`);

  const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
  const listen = hostPort(value("listen_address"));
  const metrics = hostPort(value("metrics_address"));
  expect(ports.has("grpc"), where(field("ports")), 'needs a port named "grpc"');
  expect(ports.has("metrics"), where(field("ports")), 'needs a port named "metrics"');
  expect(listen.port === ports.get("grpc"), where(field("args")),
    `--listen_address port ${listen.port} is not the container port grpc (${ports.get("grpc")})`);
  expect(ALL_INTERFACES.has(listen.host), where(field("args")),
    `--listen_address host ${listen.host} is unreachable from the kubelet and Services; use 0.0.0.0`);
  expect(metrics.port === ports.get("metrics"), where(field("args")),
    `--metrics_address port ${metrics.port} is not the container port metrics (${ports.get("metrics")})`);
  expect(ALL_INTERFACES.has(metrics.host), where(field("args")),
    `--metrics_address host ${metrics.host} is unreachable for Prometheus; use 0.0.0.0`);
  // The PubNub HTTP API is optional; when on, it has its own named port.
  const http = hostPort(value("http_address") ?? "");
  expect((http.port ?? undefined) === ports.get("http"), where(field("args")),
    `--http_address port ${http.port} is not the container port http (${ports.get("http")})`);
  if (http.port !== null) {
    expect(ALL_INTERFACES.has(http.host), where(field("args")),
      `--http_address host ${http.host} is unreachable from Services; use 0.0.0.0`);
  }

  const annotations = workload.spec.template.metadata?.annotations ?? {};
  expect(annotations["prometheus.io/scrape"] === "true", where("spec.template.metadata.annotations"),
    'prometheus.io/scrape must be "true"');
  expect(annotations["prometheus.io/port"] === String(ports.get("metrics")), where("spec.template.metadata.annotations"),
    `prometheus.io/port ${annotations["prometheus.io/port"]} is not the metrics port ${ports.get("metrics")}`);
  expect(annotations["prometheus.io/path"], where("spec.template.metadata.annotations"), "prometheus.io/path must be set");

  const probes = { readinessProbe: READINESS_SERVICE, livenessProbe: LIVENESS_SERVICE };
  const why = {
    readinessProbe: '"" follows the store and the drain',
    livenessProbe: '"liveness" stays SERVING while the process lives; "" would restart every replica during a Redis outage',
  };
  for (const [probe, service] of Object.entries(probes)) {
    const grpc = container[probe]?.grpc;
    if (!expect(grpc, where(field(probe)), "must be a grpc probe (grpc.health.v1)")) continue;
    expect(grpc.port === ports.get("grpc") && grpc.port === listen.port, where(field(`${probe}.grpc.port`)),
      `${grpc.port} is not the gRPC port (container port grpc ${ports.get("grpc")}, --listen_address port ${listen.port})`);
    expect((grpc.service ?? "") === service, where(field(`${probe}.grpc.service`)),
      `must be "${service}": ${why[probe]}`);
  }

  const preStop = container.lifecycle?.preStop ?? {};
  const command = preStop.exec?.command;
  let pause = preStop.sleep?.seconds;
  if (command) {
    const ok = expect(command.length === 2 && path.basename(command[0]) === "sleep" && /^\d+$/.test(command[1]),
      where(field("lifecycle.preStop.exec.command")),
      `expected ["/bin/sleep", "<seconds>"], got ${JSON.stringify(command)}`);
    if (ok) pause = Number(command[1]);
  }
  expect(pause > 0, where(field("lifecycle.preStop")),
    "needs a pause (exec sleep N) so endpoints are removed before the drain starts");
  const grace = durationSeconds(value("shutdown_grace"));
  const period = pod.terminationGracePeriodSeconds ?? 30;
  expect(period > (pause ?? 0) + grace, where("spec.template.spec.terminationGracePeriodSeconds"),
    `${period} s must exceed the preStop pause ${pause} s + --shutdown_grace ${grace} s`);

  const store = value("store");
  const base = overlay.split("+")[0];  // "embedded+pubnub-http" -> "embedded"
  if (base in OVERLAY_STORE) {
    expect(store === OVERLAY_STORE[base], where(field("args")),
      `--store is ${store}, expected ${OVERLAY_STORE[base]}`);
  }
  const autoscaler = objects.find(
    (o) => o.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef?.name === workload.metadata.name,
  );
  if (store === "memory") {
    // The embedded store lives in the process: two pods would be two truths.
    expect(workload.spec.replicas === 1, where("spec.replicas"), "the embedded store needs exactly 1 replica");
    expect(workload.spec.strategy?.type === "Recreate", where("spec.strategy.type"),
      "the embedded store needs Recreate (a rolling update runs two pods with split state)");
    expect(!autoscaler, at(overlay, autoscaler ?? workload), "the embedded store cannot be autoscaled");
    // Its data directory must be on a writable volume (the root file
    // system is read-only), and one that outlives the pod.
    const dataDir = value("data_dir");
    if (dataDir) {
      const mount = (container.volumeMounts ?? []).find(
        (m) => dataDir === m.mountPath || dataDir.startsWith(`${m.mountPath.replace(/\/$/, "")}/`));
      expect(mount && !mount.readOnly, where(field("volumeMounts")),
        `--data_dir=${dataDir} is not under a writable volumeMount`);
      const volume = (pod.volumes ?? []).find((v) => v.name === mount?.name);
      expect(!mount || volume?.persistentVolumeClaim, where("spec.template.spec.volumes"),
        `the volume of --data_dir (${mount?.name}) must be a persistentVolumeClaim (an emptyDir dies with the pod)`);
      const claim = volume?.persistentVolumeClaim?.claimName;
      expect(!claim || objects.some((o) => o.kind === "PersistentVolumeClaim" && o.metadata.name === claim),
        where("spec.template.spec.volumes"), `PersistentVolumeClaim ${claim} is not in the overlay`);
    }
  } else if (store === "redis") {
    expect(parseFlags(args).some((f) => f.name === "redis_url"), where(field("args")), "--store=redis needs --redis_url");
    expect(autoscaler && autoscaler.spec.minReplicas >= 2, where("spec.replicas"),
      "the redis store runs several replicas: expected a HorizontalPodAutoscaler with minReplicas >= 2");
    expect(workload.spec.strategy?.type !== "Recreate", where("spec.strategy.type"),
      "replicas share Redis: roll updates instead of an outage");
    const spread = pod.topologySpreadConstraints ?? [];
    expect(spread.some((c) => c.topologyKey === "kubernetes.io/hostname"),
      where("spec.template.spec.topologySpreadConstraints"), "must spread over nodes (kubernetes.io/hostname)");
    expect(spread.some((c) => c.topologyKey === "topology.kubernetes.io/zone" && c.whenUnsatisfiable === "ScheduleAnyway"),
      where("spec.template.spec.topologySpreadConstraints"),
      "must spread over zones softly (topology.kubernetes.io/zone, ScheduleAnyway)");
  }
  return { overlay, workload, container, args, store, ports, pause, grace, command, objects };
}

// --- The Dockerfile ----------------------------------------------------------

function checkDockerfile(file, binary, rootpath, flags, servers) {
  const where = (f) => `[Dockerfile] ${f}`;
  const { stages } = parseDockerfile(readFileSync(file, "utf8"));
  if (!expect(stages.length >= 2, where("FROM"), "expected a build stage and a runtime stage")) return;
  const build = stages[0];
  const runtime = stages.at(-1);
  expect(build.from === "debian:12", where(`FROM ${build.from}`), "the build stage must be debian:12");
  expect(runtime.from === "debian:12-slim", where(`FROM ${runtime.from}`), "the runtime stage must be debian:12-slim");

  // The binary: built by the label of its Bazel path, copied from bazel-bin.
  const runs = instructions(build, "RUN").map((r) => r.text).join("\n");
  expect(/(^|[\s/])scripts\/setup\.sh(\s|$)/m.test(runs), where("RUN"), "the build stage must run scripts/setup.sh");
  const label = `//${path.dirname(rootpath)}:${path.basename(rootpath)}`;
  const built = /bazel build\b[^&;]*?(\/\/\S+)/.exec(runs);
  expect(built?.[1] === label, where("RUN bazel build"), `builds ${built?.[1]}, expected ${label}`);
  const copiedOut = /bazel-bin\/(\S+)\s+(\S+)/.exec(runs);
  expect(copiedOut?.[1] === rootpath, where("RUN"),
    `copies bazel-bin/${copiedOut?.[1]}, but Bazel's output is bazel-bin/${rootpath}`);
  const copy = instructions(runtime, "COPY").find((c) => /--from=/.test(c.text));
  const [, from, source, destination] = /--from=(\S+)\s+(\S+)\s+(\S+)/.exec(copy?.text ?? "") ?? [];
  expect(from === build.name && source === copiedOut?.[2], where(`COPY ${copy?.text}`),
    `must copy ${copiedOut?.[2]} from stage ${build.name}`);
  const entrypoint = instructions(runtime, "ENTRYPOINT").at(-1)?.json;
  const cmd = instructions(runtime, "CMD").at(-1)?.json ?? [];
  expect(entrypoint?.[0] === destination, where("ENTRYPOINT"),
    `must run the copied binary ${destination} in exec form, is ${JSON.stringify(entrypoint)}`);

  // Flags and ports.
  const args = [...(entrypoint ?? []).slice(1), ...cmd];
  for (const flag of parseFlags(args)) {
    expect(flag.name && knownFlag(flags, flag.name), where("ENTRYPOINT/CMD"),
      `${flag.arg} is not a flag of presence_server (see --helpfull)`);
  }
  const parsed = parseWithServer(binary, args);
  expect(parsed.ok, where("ENTRYPOINT/CMD"), `presence_server rejects them: ${parsed.error}`);
  const exposed = instructions(runtime, "EXPOSE")
    .flatMap((e) => e.text.split(/\s+/))
    .map((p) => Number(p.split("/")[0]))
    .sort((a, b) => a - b);
  // The overlays as they are (not with opt-in components such as
  // pubnub-http, whose port the image's CMD does not turn on).
  for (const server of servers.filter((s) => s.overlay in OVERLAY_STORE)) {
    const declared = [...server.ports.values()].sort((a, b) => a - b);
    expect(JSON.stringify(exposed) === JSON.stringify(declared), where("EXPOSE"),
      `${exposed} differs from the container ports ${declared} of ` +
        `[${server.overlay}] Deployment/${server.workload.metadata.name}`);
  }
  const listen = hostPort(flagValue(flags, args, "listen_address"));
  const metrics = hostPort(flagValue(flags, args, "metrics_address"));
  const grpcPort = servers[0]?.ports.get("grpc");
  const metricsPort = servers[0]?.ports.get("metrics");
  expect(listen.port === grpcPort && ALL_INTERFACES.has(listen.host), where("CMD --listen_address"),
    `must be 0.0.0.0:${grpcPort} (the manifests' grpc port), is ${listen.host}:${listen.port}`);
  expect(metrics.port === metricsPort && ALL_INTERFACES.has(metrics.host), where("CMD --metrics_address"),
    `must be 0.0.0.0:${metricsPort} (the manifests' metrics port), is ${metrics.host}:${metrics.port}`);
  const http = hostPort(flagValue(flags, args, "http_address"));
  const httpPort = servers[0]?.ports.get("http") ?? null;
  expect(http.port === httpPort && (httpPort === null || ALL_INTERFACES.has(http.host)), where("CMD --http_address"),
    `must be 0.0.0.0:${httpPort} (the manifests' http port), is ${http.host}:${http.port}`);

  // The user.
  const user = instructions(runtime, "USER").at(-1)?.text;
  const ids = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
  expect(ids && Number(ids[1]) > 0 && (ids[2] === undefined || Number(ids[2]) > 0), where(`USER ${user}`),
    "must be a numeric non-root uid[:gid] (so runAsNonRoot can verify it)");
  for (const server of servers) {
    const uid = server.container.securityContext?.runAsUser ?? server.workload.spec.template.spec.securityContext?.runAsUser;
    expect(ids && uid === Number(ids[1]), where(`USER ${user}`),
      `differs from runAsUser ${uid} of [${server.overlay}] Deployment/${server.workload.metadata.name}`);
  }

  // The runtime libraries: every library ldd lists is in the image, the
  // directly linked ones through a package the stage names.
  const image = runtimeImage(runtime);
  expect(!image.unknown.length, where("RUN apt-get install"), `unknown packages: ${image.unknown.join(" ")}`);
  const libraries = sharedLibraries(binary);
  const owner = owners(libraries.map((l) => l.path));
  const used = new Set();
  for (const library of libraries) {
    const pkg = owner.get(library.path);
    if (!expect(pkg, where("RUN apt-get install"), `no Debian package owns ${library.path} (dpkg -S)`)) continue;
    used.add(pkg);
    if (image.base.has(pkg)) continue;
    if (library.needed) {
      expect(image.listed.includes(pkg), where("RUN apt-get install"),
        `the binary links ${library.name} directly: install ${pkg}`);
    } else {
      expect(image.packages.has(pkg), where("RUN apt-get install"),
        `${library.name} (${pkg}) is neither in debian:12-slim nor a dependency of the installed packages`);
    }
  }
  for (const pkg of image.listed) {
    expect(used.has(pkg) || pkg in EXTRA_RUNTIME_PACKAGES, where("RUN apt-get install"),
      `${pkg} owns no library the binary loads`);
  }
  for (const server of servers.filter((s) => s.command)) {
    expect(image.hasFile(server.command[0]),
      at(server.overlay, server.workload, "spec.template.spec.containers[presence].lifecycle.preStop.exec.command"),
      `${server.command[0]} is not in the runtime image`);
  }
}

// --- The server, run with each overlay's arguments ----------------------------

// Expands $(VAR) from the container's env (literal values, or the rendered
// Secret's).
function expandArgs(server) {
  const values = new Map();
  for (const variable of server.container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    const secret = ref && server.objects.find((o) => o.kind === "Secret" && o.metadata.name === ref.name);
    const encoded = secret?.data?.[ref.key];
    const fromSecret = encoded ? Buffer.from(encoded, "base64").toString() : secret?.stringData?.[ref.key];
    values.set(variable.name, variable.value ?? fromSecret);
  }
  // The data directory's volume is a fresh directory here.
  const data = mkdtempSync(path.join(process.env.TEST_TMPDIR ?? tmpdir(), "data-"));
  return server.args
    .map((arg) => arg.replace(/\$\((\w+)\)/g, (all, name) => values.get(name) ?? all))
    .map((arg) => arg.replace(/^--data_dir=.*/, `--data_dir=${data}/data`));
}

async function checkRunning(server, binary, buf) {
  const where = at(server.overlay, server.workload);
  const args = expandArgs(server);
  // With Redis, what the probes must do during an outage: a Redis on a port
  // nothing listens on.
  const outage = server.store === "redis";
  if (outage) args.push(`--redis_url=redis://127.0.0.1:${await closedPort()}`);
  let running;
  try {
    running = await startServer(binary, args, { waitFor: outage ? /store unreachable/ : null });
  } catch (error) {
    expect(false, where, `the server did not start with the manifest's args: ${error.message}`);
    return;
  }
  const readiness = await healthStatus(buf, running.grpcPort, server.container.readinessProbe?.grpc?.service ?? "");
  const expected = outage ? "NOT_SERVING" : "SERVING";
  expect(readiness === expected, `${where} readinessProbe`,
    `health of the readiness service is ${readiness}, expected ${expected}${outage ? " while Redis is unreachable" : ""}`);
  const liveness = await healthStatus(buf, running.grpcPort, server.container.livenessProbe?.grpc?.service ?? "");
  expect(liveness === "SERVING", `${where} livenessProbe`,
    `health of the liveness service "${server.container.livenessProbe?.grpc?.service}" is ${liveness}, expected SERVING` +
      (outage ? " while Redis is unreachable (else every replica restarts)" : ""));
  const metricsPath = server.workload.spec.template.metadata.annotations?.["prometheus.io/path"];
  const status = await httpStatus(running.metricsPort, metricsPath);
  expect(status === 200, `${where} prometheus.io/path`, `GET ${metricsPath} answered ${status}, expected 200`);
  const exit = await running.stop((server.grace + 10) * 1000);
  expect(exit === 0, `${where} --shutdown_grace`,
    `after SIGTERM the server ended with ${exit}, expected exit 0 within the grace`);
}

// --- Main --------------------------------------------------------------------

async function main() {
  const options = {};
  const overlays = [];
  for (const arg of process.argv.slice(2)) {
    const option = /^--(\w+)=(.*)$/.exec(arg);
    if (option) options[option[1]] = option[2];
    else overlays.push(arg.split("="));
  }
  const flags = serverFlags(options.binary);
  if (!expect(flags.has("listen_address"), "[binary]", `no flags from ${options.binary} --helpfull`)) return;

  const servers = [];
  for (const [overlay, file] of overlays) {
    const objects = parseAllDocuments(readFileSync(file, "utf8"))
      .map((d) => d.toJS())
      .filter(Boolean);
    console.log(`== ${overlay}: ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(" ")}`);
    await checkSchemas(overlay, objects);
    checkLabels(overlay, objects);
    checkSecurity(overlay, objects);
    const server = checkServer(overlay, objects, options.binary, flags);
    if (server) servers.push(server);
  }
  for (const expected of Object.keys(OVERLAY_STORE)) {
    expect(overlays.some(([name]) => name === expected), "[overlays]", `overlay ${expected} is missing`);
  }
  console.log("== Dockerfile");
  checkDockerfile(options.dockerfile, options.binary, options.rootpath, flags, servers);
  for (const server of servers) {
    console.log(`== ${server.overlay}: the server with its args (store ${server.store})`);
    await checkRunning(server, options.binary, options.buf);
  }
}

await main().catch((error) => expect(false, "[check_manifests]", error.stack));
console.log(`${passed} checks passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
