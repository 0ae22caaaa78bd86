'use strict';
// Calls every RPC of the presence service once and prints what it answers.
//
// No generated code: @grpc/proto-loader reads the .proto files at run time.
//
//   scripts/setup.sh --with-tools   # or `npm ci` in client/node
//   client/gen_stubs.sh node /tmp/presence-node   # a copy of the protos
//   NODE_PATH=~/.cache/presence-tools/node-client/node_modules \
//     node client/node/example.js --address 127.0.0.1:50051 --protos /tmp/presence-node
//
// Against a server with TLS (--tls_cert_file) and tokens (--auth=token), add
// --ca_cert ca.crt [--cert client.crt --key client.key] --token TOKEN; the
// token is sent as "authorization: Bearer <token>" metadata, over TLS only.
//
// Exits non-zero, printing the gRPC status code and message, when a call
// fails unexpectedly.

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { toStruct, fromStruct } = require('./struct');

const CALL_TIMEOUT_MS = 5000; // Every call gets a deadline: a stuck server must not hang us.

const { values: args } = parseArgs({
  options: {
    address: { type: 'string', default: '127.0.0.1:50051' },
    protos: { type: 'string', default: path.join(__dirname, '..', '..', 'proto') },
    watch_seconds: { type: 'string', default: '1' },
    ca_cert: { type: 'string' }, // PEM CA of the server's certificate (TLS).
    cert: { type: 'string' }, // PEM client certificate (mutual TLS).
    key: { type: 'string' }, // PEM key of --cert.
    token: { type: 'string' }, // Access token (TLS only).
  },
});

/** Plaintext, or TLS (mutual with --cert and --key) with the token. */
function channelCredentials() {
  if (!args.ca_cert && !args.cert && !args.token) return grpc.credentials.createInsecure();
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const tls = grpc.credentials.createSsl(read(args.ca_cert), read(args.key), read(args.cert));
  if (!args.token) return tls;
  const bearer = grpc.credentials.createFromMetadataGenerator((_, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${args.token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}

const definition = protoLoader.loadSync(
  ['presence/v1/presence.proto', 'presence/v1/channel_group.proto'],
  // Field names as in the proto (user_id), enums as names, uint64 as strings.
  { includeDirs: [args.protos], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
);
const { v1 } = grpc.loadPackageDefinition(definition).presence;
const credentials = channelCredentials();
const presence = new v1.PresenceService(args.address, credentials);
const groups = new v1.ChannelGroupService(args.address, credentials);

/** Calls a unary RPC with its own deadline; resolves with the answer. */
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, reply) =>
      error ? reject(error) : resolve(reply));
  });
}

const json = (struct) => JSON.stringify(fromStruct(struct));

async function presenceCalls() {
  const beat = await call(presence, 'Heartbeat', {
    user_id: 'alice', channels: ['lobby'], session_id: 'tab-1', timeout_seconds: 60,
    states: { lobby: toStruct({ mood: 'happy' }) },
  });
  console.log(`heartbeat: timeout ${beat.timeout_seconds}s, ` +
    `send the next one within ${beat.heartbeat_interval_seconds}s`);

  const here = await call(presence, 'HereNow', { channels: ['lobby'], include_state: true });
  for (const channel of here.channels) {
    const occupants = channel.occupants.map((user) =>
      user.state ? `${user.user_id} ${json(user.state)}` : user.user_id);
    console.log(`${channel.name}: ${channel.occupancy} occupant(s): ${occupants.join(', ')}`);
  }

  const where = await call(presence, 'WhereNow', { user_id: 'alice' });
  console.log(`alice is in: ${where.channels.join(', ')}`);

  const set = await call(presence, 'SetState', {
    user_id: 'alice', channels: ['lobby'], state: toStruct({ mood: 'busy' }),
  });
  console.log(`state set on ${set.channels.join(', ')}: ${json(set.state)}`);

  const got = await call(presence, 'GetState', { user_id: 'alice', channels: ['lobby'] });
  for (const info of got.states) {
    console.log(`alice's state on ${info.channel_name}: ${json(info.state)}`);
  }

  await watchLobby(Number(args.watch_seconds));

  const left = await call(presence, 'Leave', { user_id: 'alice', channels: ['lobby'], session_id: 'tab-1' });
  console.log(`alice left: ${left.channels.join(', ')}`);

  // Many users at once (an edge service's heartbeats): one result per entry.
  const batch = await call(presence, 'BatchHeartbeat', {
    entries: [
      { heartbeat: { user_id: 'carol', channels: ['hall'] } },
      { heartbeat: { user_id: 'dave', channels: ['bad channel'] } },
      { leave: { user_id: 'carol', channels: ['hall'] } },
    ],
  });
  batch.results.forEach((result, i) => {
    const code = Object.keys(grpc.status).find((name) => grpc.status[name] === result.code);
    console.log(`batch entry ${i}: ${code} ${result.message}`.trimEnd());
  });
}

/** Prints lobby's events until the watch's deadline, while bob joins and leaves. */
async function watchLobby(seconds) {
  const events = presence.WatchEvents({ channels: ['lobby'] }, { deadline: Date.now() + seconds * 1000 });
  // The watch is registered when the server sends its initial metadata:
  // changes made after that are delivered, earlier ones are not.
  const metadata = await new Promise((resolve, reject) => {
    events.once('metadata', resolve);
    events.once('error', reject);
  });
  console.log(`watching lobby for ${seconds}s (registered: ${metadata.get('presence-watch-registered')})`);
  await call(presence, 'Heartbeat', { user_id: 'bob', channels: ['lobby'] });
  await call(presence, 'Leave', { user_id: 'bob', channels: ['lobby'] });
  try {
    for await (const event of events) {
      console.log(`  event: ${event.channel} ${event.action} ${event.user_id} ` +
        `(occupancy ${event.occupancy}, sequence ${event.sequence})`);
    }
  } catch (error) {
    if (error.code !== grpc.status.DEADLINE_EXCEEDED) throw error; // The deadline ends the watch.
  }
}

async function channelGroupCalls() {
  await call(groups, 'AddChannels', { group: 'friends', channels: ['alice-room', 'bob-room'] });
  let listed = await call(groups, 'ListChannels', { group: 'friends' });
  console.log(`friends: ${listed.channels.join(', ')}`);
  const all = await call(groups, 'ListGroups', {});
  console.log(`groups: ${all.groups.join(', ')}`);
  await call(groups, 'RemoveChannels', { group: 'friends', channels: ['bob-room'] });
  listed = await call(groups, 'ListChannels', { group: 'friends' });
  console.log(`friends after removing bob-room: ${listed.channels.join(', ')}`);
  await call(groups, 'DeleteGroup', { group: 'friends' });
  try {
    await call(groups, 'ListChannels', { group: 'friends' });
  } catch (error) {
    if (error.code !== grpc.status.NOT_FOUND) throw error;
    console.log(`friends deleted: ${grpc.status[error.code]}: ${error.details}`);
    return;
  }
  throw new Error('friends is still listed after DeleteGroup');
}

async function main() {
  try {
    await presenceCalls();
    await channelGroupCalls();
  } catch (error) {
    const code = error.code === undefined ? 'error' : grpc.status[error.code];
    console.error(`error: ${code}: ${error.details ?? error.message}`);
    process.exitCode = 1;
  } finally {
    presence.close();
    groups.close();
  }
}

main();
