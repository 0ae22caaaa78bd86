'use strict';
// The presence service's gRPC API through @grpc/grpc-js, for tests that
// cross the two surfaces. The protos come from PRESENCE_PROTOS (the source
// tree's proto/ folder).

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const DEADLINE_MS = 5000;

function connect(address) {
  const definition = protoLoader.loadSync(
    ['presence/v1/presence.proto', 'presence/v1/channel_group.proto'],
    { includeDirs: [process.env.PRESENCE_PROTOS], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
  );
  const v1 = grpc.loadPackageDefinition(definition).presence.v1;
  const presence = new v1.PresenceService(address, grpc.credentials.createInsecure());
  const call = (method, request) => new Promise((resolve, reject) => {
    presence[method](request, { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      (error ? reject(error) : resolve(reply)));
  });
  return {
    heartbeat: (request) => call('Heartbeat', request),
    leave: (request) => call('Leave', request),
    setState: (request) => call('SetState', request),
    hereNow: (request) => call('HereNow', request),
    // Opens a watch; resolves once the server registered it (its initial
    // metadata), with `events` filling up and `next(predicate)`.
    watch: (request) => new Promise((resolve, reject) => {
      const stream = presence.WatchEvents(request);
      const events = [];
      const waiting = [];
      stream.on('data', (event) => {
        events.push(event);
        for (const w of [...waiting]) {
          if (w.predicate(event)) {
            waiting.splice(waiting.indexOf(w), 1);
            w.resolve(event);
          }
        }
      });
      stream.on('error', () => {});
      stream.on('metadata', () => resolve({
        events,
        next: (predicate) => {
          const found = events.find(predicate);
          if (found) return Promise.resolve(found);
          return new Promise((r) => waiting.push({ predicate, resolve: r }));
        },
        close: () => stream.cancel(),
      }));
      stream.on('status', (status) => { if (status.code !== 0) reject(new Error(status.details)); });
    }),
    close: () => presence.close(),
  };
}

// A google.protobuf.Struct from a flat object of strings and numbers (the
// well-known types keep their camelCase field names in proto-loader).
function struct(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) {
    fields[key] = typeof value === 'number' ? { numberValue: value } : { stringValue: String(value) };
  }
  return { fields };
}

module.exports = { connect, struct };
