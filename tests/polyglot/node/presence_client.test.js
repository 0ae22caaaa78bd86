'use strict';
// The presence service through @grpc/grpc-js and @grpc/proto-loader.
//
// Run by tests/polyglot/node_client_test.sh, which starts the server and sets
// PRESENCE_ADDRESS and PRESENCE_PROTOS (client/gen_stubs.sh node). Each test
// uses its own channel and user names: the tests share one server.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { toStruct, fromStruct } = require('../../../client/node/struct');

const DEADLINE_MS = 5000;
const address = process.env.PRESENCE_ADDRESS;
let v1;
let presence;
let groups;

before(() => {
  assert.ok(address, 'PRESENCE_ADDRESS is not set: run tests/polyglot/node_client_test.sh');
  const definition = protoLoader.loadSync(
    ['presence/v1/presence.proto', 'presence/v1/channel_group.proto'],
    { includeDirs: [process.env.PRESENCE_PROTOS], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
  );
  v1 = grpc.loadPackageDefinition(definition).presence.v1;
  presence = new v1.PresenceService(address, grpc.credentials.createInsecure());
  groups = new v1.ChannelGroupService(address, grpc.credentials.createInsecure());
});

after(() => {
  presence.close();
  groups.close();
});

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      error ? reject(error) : resolve(reply));
  });
}

const heartbeat = (request) => call(presence, 'Heartbeat', request);

async function assertStatus(promise, code, text) {
  await assert.rejects(promise, (error) => {
    assert.equal(grpc.status[error.code], grpc.status[code]);
    assert.match(error.details, new RegExp(text.replace(/[[\]]/g, '\\$&')));
    return true;
  });
}

test('Heartbeat answers the timeout and the heartbeat interval', async () => {
  let reply = await heartbeat({ user_id: 'js-alice', channels: ['js-hb'], timeout_seconds: 60, session_id: 'tab-1' });
  assert.deepEqual([reply.timeout_seconds, reply.heartbeat_interval_seconds], [60, 29]);
  reply = await heartbeat({ user_id: 'js-alice', channels: ['js-hb'] }); // 0: the server default.
  assert.deepEqual([reply.timeout_seconds, reply.heartbeat_interval_seconds], [300, 149]);
});

test('HereNow lists occupancy, occupants and state', async () => {
  await heartbeat({ user_id: 'js-bob', channels: ['js-here'] });
  await heartbeat({ user_id: 'js-alice', channels: ['js-here'], states: { 'js-here': toStruct({ mood: 'happy' }) } });
  const reply = await call(presence, 'HereNow', { channels: ['js-here', 'js-empty'], include_state: true });
  assert.deepEqual([reply.total_channels, reply.total_occupancy], [2, 2]);
  const [empty, here] = reply.channels; // Ordered by name.
  assert.deepEqual([empty.name, empty.occupancy, empty.occupants], ['js-empty', 0, []]);
  assert.deepEqual([here.name, here.occupancy], ['js-here', 2]);
  assert.deepEqual(here.occupants.map((user) => user.user_id), ['js-alice', 'js-bob']);
  assert.deepEqual(fromStruct(here.occupants[0].state), { mood: 'happy' });
  assert.equal(here.occupants[1].state, null);

  const counts = await call(presence, 'HereNow', { channels: ['js-here'], include_user_ids: false });
  assert.deepEqual([counts.channels[0].occupancy, counts.channels[0].occupants], [2, []]);
});

test('WhereNow lists the channels sorted', async () => {
  await heartbeat({ user_id: 'js-carol', channels: ['js-where-b', 'js-where-a'] });
  const reply = await call(presence, 'WhereNow', { user_id: 'js-carol' });
  assert.deepEqual(reply.channels, ['js-where-a', 'js-where-b']);
});

test('SetState and GetState round-trip a Struct', async () => {
  const state = { mood: 'busy', level: 3, away: false, tags: ['a', 'b'], device: { os: 'linux' }, note: null };
  await heartbeat({ user_id: 'js-dave', channels: ['js-state'] });
  const set = await call(presence, 'SetState', { user_id: 'js-dave', channels: ['js-state'], state: toStruct(state) });
  assert.deepEqual(set.channels, ['js-state']);
  const got = await call(presence, 'GetState', { user_id: 'js-dave', channels: ['js-state'] });
  assert.equal(got.states.length, 1);
  assert.equal(got.states[0].channel_name, 'js-state');
  assert.deepEqual(fromStruct(got.states[0].state), state);
});

test('SetState where the user is absent fails its precondition', async () => {
  await assertStatus(
    call(presence, 'SetState', { user_id: 'js-erin', channels: ['js-absent'], state: toStruct({ a: 1 }) }),
    grpc.status.FAILED_PRECONDITION, 'js-absent');
});

test('Leave returns the channels left once the last session ends', async () => {
  for (const session of ['phone', 'laptop']) {
    await heartbeat({ user_id: 'js-frank', channels: ['js-leave'], session_id: session });
  }
  const leave = (session) => call(presence, 'Leave', { user_id: 'js-frank', channels: ['js-leave'], session_id: session });
  assert.deepEqual((await leave('phone')).channels, []); // The laptop is still there.
  assert.deepEqual((await leave('laptop')).channels, ['js-leave']);
});

test('BatchHeartbeat answers each entry on its own', async () => {
  const batch = await call(presence, 'BatchHeartbeat', {
    entries: [
      { heartbeat: { user_id: 'js-gina', channels: ['js-batch'], timeout_seconds: 60 } },
      { heartbeat: { user_id: 'js-gina', channels: ['bad channel'] } },
      { leave: { user_id: 'js-gina', channels: ['js-batch'] } },
    ],
  });
  assert.equal(batch.results.length, 3);
  assert.equal(batch.results[0].code, 0);
  assert.equal(batch.results[0].heartbeat.heartbeat_interval_seconds, 29);
  assert.equal(batch.results[1].code, grpc.status.INVALID_ARGUMENT);
  assert.match(batch.results[1].message, /^entries\[1\]\.heartbeat\.channels\[0\]: /);
  assert.deepEqual(batch.results[2].leave.channels, ['js-batch']);
});

test('channel groups: add, list, remove, delete', async () => {
  await call(groups, 'AddChannels', { group: 'js-group', channels: ['js-g2', 'js-g1'] });
  const listChannels = async () => (await call(groups, 'ListChannels', { group: 'js-group' })).channels;
  assert.deepEqual(await listChannels(), ['js-g1', 'js-g2']);
  const all = (await call(groups, 'ListGroups', {})).groups;
  assert.ok(all.includes('js-group'));
  assert.deepEqual(all, [...all].sort());

  await call(groups, 'RemoveChannels', { group: 'js-group', channels: ['js-g1'] });
  assert.deepEqual(await listChannels(), ['js-g2']);
  await call(groups, 'DeleteGroup', { group: 'js-group' });
  await assertStatus(listChannels(), grpc.status.NOT_FOUND, 'js-group');
});

test('an invalid request gets INVALID_ARGUMENT naming the field', async () => {
  await assertStatus(call(presence, 'HereNow', { channels: ['ok', 'a,b'] }), grpc.status.INVALID_ARGUMENT, 'channels[1]');
});

test('a watch receives a join made by another client', async () => {
  const events = presence.WatchEvents({ channels: ['js-watch'] }, { deadline: Date.now() + DEADLINE_MS });
  const received = [];
  events.on('data', (event) => received.push(event));
  const ended = new Promise((resolve) => events.on('status', resolve));
  events.on('error', () => {}); // The cancellation below ends the stream; 'status' reports it.

  const metadata = await new Promise((resolve) => events.once('metadata', resolve));
  assert.deepEqual(metadata.get('presence-watch-registered'), ['1']);

  const other = new v1.PresenceService(address, grpc.credentials.createInsecure());
  try {
    await call(other, 'Heartbeat', { user_id: 'js-gina', channels: ['js-watch'], states: { 'js-watch': toStruct({ mood: 'happy' }) } });
  } finally {
    other.close();
  }
  while (received.length < 2) {
    const status = await new Promise((resolve) => {
      events.once('data', () => resolve(null));
      events.once('status', resolve);
    });
    assert.equal(status, null, `the watch ended early: ${status?.details}`);
  }
  events.cancel();
  await ended;

  const [active, join] = received;
  assert.deepEqual([active.channel, active.action, active.occupancy], ['js-watch', 'ACTION_ACTIVE', 1]);
  assert.deepEqual([join.channel, join.action, join.user_id, join.occupancy], ['js-watch', 'ACTION_JOIN', 'js-gina', 1]);
  assert.deepEqual(fromStruct(join.state), { mood: 'happy' });
  assert.ok(Number(join.time.seconds) > 0);
  assert.equal(BigInt(join.sequence), BigInt(active.sequence) + 1n);
});
