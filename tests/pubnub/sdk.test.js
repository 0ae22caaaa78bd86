'use strict';
// The official PubNub JavaScript SDK (npm "pubnub" 12) against
// presence_server's PubNub-compatible HTTP API: every presence and
// channel-group call, presence events through subscribe, and presence
// crossing between the SDK and gRPC.
//
// Run by run_node_test.sh. One server for the file, with short timeouts;
// each test uses its own channel, group and user names.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const PubNub = require('pubnub');
const { startServer } = require('./server');
const { connect, struct } = require('./grpc');

let server;
let grpc;
const clients = [];

before(async () => {
  server = await startServer([
    '--min_timeout_seconds=1',
    '--announce_max=3',
    '--presence_interval=1s',
    '--pubnub_long_poll_timeout=10s',
    '--pubnub_subscribe_keys=demo',
  ]);
  grpc = connect(server.grpc);
});

after(async () => {
  for (const client of clients) client.destroy(true);
  grpc.close();
  assert.equal(await server.stop(), 0);
});

function client(userId, options = {}) {
  const pubnub = new PubNub({
    origin: server.origin,
    ssl: false,
    subscribeKey: 'demo',
    publishKey: 'demo-pub',
    userId,
    logLevel: PubNub.LogLevel.None,
    ...options,
  });
  clients.push(pubnub);
  return pubnub;
}

// Presence events a client receives, and statuses; next() resolves with the
// first event not taken yet that matches.
function listen(pubnub) {
  const events = [];
  const statuses = [];
  let taken = 0;
  const waiting = [];
  const check = () => {
    for (const w of [...waiting]) {
      const index = events.findIndex((e, i) => i >= w.from && w.predicate(e));
      if (index >= 0) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(events[index]);
      }
    }
  };
  pubnub.addListener({
    presence: (event) => { events.push(event); check(); },
    status: (status) => { statuses.push(status); check(); },
  });
  return {
    events,
    next(predicate) {
      return new Promise((resolve) => {
        waiting.push({
          predicate, from: taken,
          resolve: (e) => { taken = events.indexOf(e) + 1; resolve(e); },
        });
        check();
      });
    },
    connected() {
      const done = () => statuses.some((s) => s.category === 'PNConnectedCategory' ||
        s.category === 'PNSubscriptionChangedCategory');
      return new Promise((resolve) => {
        const poll = () => (done() ? resolve() : setTimeout(poll, 20));
        poll();
      });
    },
  };
}

async function subscribed(pubnub, params) {
  const listener = listen(pubnub);
  pubnub.subscribe(params);
  await listener.connected();
  return listener;
}

const byUuid = (action, uuid) => (e) => e.action === action && e.uuid === uuid;

async function assertFails(promise, { statusCode, category, message }) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.status.statusCode, statusCode);
    if (category) assert.equal(error.status.category, category);
    assert.match(error.status.errorData.message, message);
    return true;
  });
}

test('hereNow: one channel, state, occupancy only, several channels, groups, global', async () => {
  const alice = client('hn-alice');
  const bob = client('hn-bob');
  await grpc.heartbeat({ user_id: 'hn-alice', channels: ['hn-a', 'hn-b'], timeout_seconds: 60,
    states: { 'hn-a': struct({ mood: 'happy' }) } });
  await grpc.heartbeat({ user_id: 'hn-bob', channels: ['hn-a'], timeout_seconds: 60 });

  let here = await alice.hereNow({ channels: ['hn-a'] });
  assert.equal(here.totalChannels, 1);
  assert.equal(here.totalOccupancy, 2);
  assert.deepEqual(here.channels['hn-a'].occupants,
    [{ uuid: 'hn-alice', state: null }, { uuid: 'hn-bob', state: null }]);

  here = await alice.hereNow({ channels: ['hn-a'], includeState: true });
  assert.deepEqual(here.channels['hn-a'].occupants,
    [{ uuid: 'hn-alice', state: { mood: 'happy' } }, { uuid: 'hn-bob' }]);

  here = await bob.hereNow({ channels: ['hn-a'], includeUUIDs: false });
  assert.equal(here.channels['hn-a'].occupancy, 2);
  assert.deepEqual(here.channels['hn-a'].occupants, []);

  here = await bob.hereNow({ channels: ['hn-a', 'hn-b'] });
  assert.equal(here.totalChannels, 2);
  assert.equal(here.totalOccupancy, 3);
  assert.deepEqual(here.channels['hn-b'].occupants, [{ uuid: 'hn-alice', state: null }]);

  await alice.channelGroups.addChannels({ channelGroup: 'hn-group', channels: ['hn-b'] });
  here = await alice.hereNow({ channelGroups: ['hn-group'] });
  assert.deepEqual(Object.keys(here.channels), ['hn-b']);
  assert.equal(here.totalOccupancy, 1);
  here = await alice.hereNow({ channels: ['hn-a'], channelGroups: ['hn-group'] });
  assert.deepEqual(Object.keys(here.channels).sort(), ['hn-a', 'hn-b']);

  here = await alice.hereNow({ channels: ['hn-a'], limit: 1 });
  assert.equal(here.channels['hn-a'].occupancy, 2);
  assert.deepEqual(here.channels['hn-a'].occupants.map((o) => o.uuid), ['hn-alice']);
  here = await alice.hereNow({ channels: ['hn-a'], limit: 1, offset: 1 });
  assert.deepEqual(here.channels['hn-a'].occupants.map((o) => o.uuid), ['hn-bob']);

  const global = await alice.hereNow({});
  assert.ok(global.totalChannels >= 2);
  assert.equal(global.channels['hn-a'].occupancy, 2);
});

test('whereNow lists the channels of a uuid', async () => {
  const carol = client('wn-carol');
  await grpc.heartbeat({ user_id: 'wn-carol', channels: ['wn-b', 'wn-a'], timeout_seconds: 60 });
  assert.deepEqual(await carol.whereNow({}), { channels: ['wn-a', 'wn-b'] });
  assert.deepEqual(await carol.whereNow({ uuid: 'wn-nobody' }), { channels: [] });
});

test('setState and getState on channels and channel groups', async () => {
  const dave = client('st-dave');
  await grpc.heartbeat({ user_id: 'st-dave', channels: ['st-a', 'st-b', 'st-c'], timeout_seconds: 60 });
  await dave.channelGroups.addChannels({ channelGroup: 'st-group', channels: ['st-b', 'st-c'] });

  assert.deepEqual(await dave.setState({ channels: ['st-a'], state: { mood: 'happy' } }),
    { state: { mood: 'happy' } });
  assert.deepEqual(await dave.getState({ channels: ['st-a'] }),
    { channels: { 'st-a': { mood: 'happy' } } });

  // A group: every channel of it. The SDK hands back the server's payload
  // as is for anything but one channel, like PubNub's own service does.
  await dave.setState({ channelGroups: ['st-group'], state: { role: 'admin' } });
  let state = await dave.getState({ channelGroups: ['st-group'] });
  assert.deepEqual(state.channels.channels, { 'st-b': { role: 'admin' }, 'st-c': { role: 'admin' } });
  state = await dave.getState({ channels: ['st-a', 'st-b'] });
  assert.deepEqual(state.channels.channels, { 'st-a': { mood: 'happy' }, 'st-b': { role: 'admin' } });

  // Another uuid's state.
  const other = client('st-other');
  assert.deepEqual(await other.getState({ uuid: 'st-dave', channels: ['st-a'] }),
    { channels: { 'st-a': { mood: 'happy' } } });

  // setState({withHeartbeat}) sends the state unkeyed on /heartbeat.
  await dave.setState({ channels: ['st-a'], state: { mood: 'busy' }, withHeartbeat: true });
  assert.deepEqual(await dave.getState({ channels: ['st-a'] }),
    { channels: { 'st-a': { mood: 'busy' } } });
});

test('every channel-group call', async () => {
  const admin = client('cg-admin');
  await admin.channelGroups.addChannels({ channelGroup: 'cg-one', channels: ['cg-x', 'cg-y', 'cg-z'] });
  assert.deepEqual(await admin.channelGroups.listChannels({ channelGroup: 'cg-one' }),
    { channels: ['cg-x', 'cg-y', 'cg-z'] });
  await admin.channelGroups.removeChannels({ channelGroup: 'cg-one', channels: ['cg-y'] });
  assert.deepEqual(await admin.channelGroups.listChannels({ channelGroup: 'cg-one' }),
    { channels: ['cg-x', 'cg-z'] });
  await admin.channelGroups.addChannels({ channelGroup: 'cg-two', channels: ['cg-x'] });
  const { groups } = await admin.channelGroups.listGroups();
  assert.ok(groups.includes('cg-one') && groups.includes('cg-two'), groups.join());
  await admin.channelGroups.deleteGroup({ channelGroup: 'cg-one' });
  assert.deepEqual(await admin.channelGroups.listChannels({ channelGroup: 'cg-one' }), { channels: [] });
  assert.ok(!(await admin.channelGroups.listGroups()).groups.includes('cg-one'));
});

test('presence events: join, state-change, leave on unsubscribe, timeout without leave', async () => {
  const observer = client('ev-observer');
  const seen = await subscribed(observer, { channels: ['ev-room'], withPresence: true });

  const alice = client('ev-alice');
  alice.subscribe({ channels: ['ev-room'], withPresence: true });
  const join = await seen.next(byUuid('join', 'ev-alice'));
  assert.equal(join.channel, 'ev-room');
  assert.equal(join.subscription, 'ev-room-pnpres');
  assert.equal(join.occupancy, 2);
  assert.match(join.timetoken, /^\d{17}$/);
  assert.ok(Math.abs(join.timestamp - Date.now() / 1000) < 60, `timestamp ${join.timestamp}`);

  await alice.setState({ channels: ['ev-room'], state: { mood: 'excited' } });
  const change = await seen.next(byUuid('state-change', 'ev-alice'));
  assert.deepEqual(change.state, { mood: 'excited' });
  assert.ok(BigInt(change.timetoken) > BigInt(join.timetoken));

  alice.unsubscribe({ channels: ['ev-room'] });
  const leave = await seen.next(byUuid('leave', 'ev-alice'));
  assert.equal(leave.occupancy, 1);

  // Stops without leaving (a crash): the server times it out.
  const ghost = client('ev-ghost', { presenceTimeout: 2 });
  ghost.subscribe({ channels: ['ev-room'], withPresence: true });
  await seen.next(byUuid('join', 'ev-ghost'));
  ghost.destroy(true);
  const timeout = await seen.next(byUuid('timeout', 'ev-ghost'));
  assert.equal(timeout.occupancy, 1);
  assert.ok(!seen.events.some(byUuid('leave', 'ev-ghost')), 'a closed connection is not a leave');
});

test('the legacy subscribe loop (enableEventEngine: false) works too', async () => {
  const observer = client('lg-observer', { enableEventEngine: false });
  const seen = await subscribed(observer, { channels: ['lg-room'], withPresence: true });
  const user = client('lg-user', { enableEventEngine: false, presenceTimeout: 20 });
  user.subscribe({ channels: ['lg-room'], withPresence: true });
  assert.equal((await seen.next(byUuid('join', 'lg-user'))).occupancy, 2);
  user.unsubscribe({ channels: ['lg-room'] });
  await seen.next(byUuid('leave', 'lg-user'));
});

test('presence events through a channel group subscription', async () => {
  const admin = client('grp-admin');
  await admin.channelGroups.addChannels({ channelGroup: 'grp-watch', channels: ['grp-1', 'grp-2'] });
  const observer = client('grp-observer');
  const seen = await subscribed(observer, { channelGroups: ['grp-watch'], withPresence: true });
  await grpc.heartbeat({ user_id: 'grp-user', channels: ['grp-2'], timeout_seconds: 60 });
  const join = await seen.next(byUuid('join', 'grp-user'));
  assert.equal(join.channel, 'grp-2');
  assert.equal(join.subscription, 'grp-watch-pnpres');
  // The group followed live: a channel added while subscribed.
  await admin.channelGroups.addChannels({ channelGroup: 'grp-watch', channels: ['grp-3'] });
  await grpc.heartbeat({ user_id: 'grp-user', channels: ['grp-3'], timeout_seconds: 60 });
  const later = await seen.next((e) => e.action === 'join' && e.uuid === 'grp-user' && e.channel === 'grp-3');
  assert.equal(later.subscription, 'grp-watch-pnpres');
});

test('interval mode above --announce_max', async () => {
  const observer = client('iv-observer');
  // Presence only: the observer does not join the channel itself.
  const seen = await subscribed(observer, { channels: ['iv-room-pnpres'] });
  for (const user of ['iv-1', 'iv-2', 'iv-3']) {
    await grpc.heartbeat({ user_id: user, channels: ['iv-room'], timeout_seconds: 60 });
    await seen.next(byUuid('join', user));
  }
  await grpc.heartbeat({ user_id: 'iv-4', channels: ['iv-room'], timeout_seconds: 60 });
  const interval = await seen.next((e) => e.action === 'interval');
  assert.equal(interval.channel, 'iv-room');
  assert.equal(interval.occupancy, 4);
  assert.deepEqual(interval.join, ['iv-4']);
  assert.equal(interval.hereNowRefresh, false);
  assert.ok(!seen.events.some(byUuid('join', 'iv-4')), 'no per-user join in interval mode');
});

test('a restart within the heartbeat window is neither a leave nor a join', async () => {
  const observer = client('rs-observer');
  const seen = await subscribed(observer, { channels: ['rs-room'], withPresence: true });
  const first = client('rs-phoenix', { presenceTimeout: 2 });
  first.subscribe({ channels: ['rs-room'], withPresence: true });
  await seen.next(byUuid('join', 'rs-phoenix'));
  const joinedAt = seen.events.length;

  first.destroy(true); // The process dies: no leave...
  const second = client('rs-phoenix', { presenceTimeout: 2 });
  await subscribed(second, { channels: ['rs-room'], withPresence: true }); // ...and comes back.
  // Past the first instance's window, a marker event: everything the
  // observer saw in between is in order before it.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await grpc.heartbeat({ user_id: 'rs-marker', channels: ['rs-room'], timeout_seconds: 60 });
  await seen.next(byUuid('join', 'rs-marker'));
  const between = seen.events.slice(joinedAt).map((e) => `${e.action} ${e.uuid}`);
  assert.deepEqual(between, ['join rs-marker']);
  second.unsubscribe({ channels: ['rs-room'] });
  await seen.next(byUuid('leave', 'rs-phoenix'));
});

test('a change made through gRPC reaches SDK subscribers', async () => {
  const observer = client('gx-observer');
  const seen = await subscribed(observer, { channels: ['gx-room'], withPresence: true });
  await grpc.heartbeat({ user_id: 'gx-backend', channels: ['gx-room'], timeout_seconds: 60 });
  assert.equal((await seen.next(byUuid('join', 'gx-backend'))).occupancy, 2);
  await grpc.setState({ user_id: 'gx-backend', channels: ['gx-room'], state: struct({ level: 3 }) });
  assert.deepEqual((await seen.next(byUuid('state-change', 'gx-backend'))).state, { level: 3 });
  await grpc.leave({ user_id: 'gx-backend', channels: ['gx-room'] });
  await seen.next(byUuid('leave', 'gx-backend'));
  const here = await observer.hereNow({ channels: ['gx-room'] });
  assert.deepEqual(here.channels['gx-room'].occupants.map((o) => o.uuid), ['gx-observer']);
});

test('a change made through the SDK reaches gRPC watchers and HereNow', async () => {
  const watch = await grpc.watch({ channels: ['sx-room'] });
  const user = client('sx-user');
  await subscribed(user, { channels: ['sx-room'], withPresence: true });
  const join = await watch.next((e) => e.action === 'ACTION_JOIN' && e.user_id === 'sx-user');
  assert.equal(join.channel, 'sx-room');
  const here = await grpc.hereNow({ channels: ['sx-room'] });
  assert.deepEqual(here.channels[0].occupants.map((o) => o.user_id), ['sx-user']);
  await user.setState({ channels: ['sx-room'], state: { mood: 'ok' } });
  await watch.next((e) => e.action === 'ACTION_STATE_CHANGE' && e.user_id === 'sx-user');
  user.unsubscribe({ channels: ['sx-room'] });
  await watch.next((e) => e.action === 'ACTION_LEAVE' && e.user_id === 'sx-user');
  watch.close();
});

test('errors carry PubNub status categories and name the parameter', async () => {
  const eve = client('err-eve');
  await assertFails(eve.hereNow({ channels: ['bad:name'] }), {
    statusCode: 400, category: 'PNBadRequestCategory',
    message: /^channels\[0\]: "bad:name" contains ':'/,
  });
  await assertFails(eve.setState({ channels: ['err-room'], state: 'not an object' }), {
    statusCode: 400, category: 'PNBadRequestCategory', message: /^state: must be a JSON object$/,
  });
  await assertFails(eve.setState({ channels: ['err-room'], state: { a: 1 } }), {
    statusCode: 400, category: 'PNBadRequestCategory', message: /not present on channels: err-room/,
  });
  await assertFails(eve.whereNow({ uuid: 'has space' }), {
    statusCode: 400, category: 'PNBadRequestCategory', message: /^uuid: /,
  });
  await assertFails(eve.hereNow({ channelGroups: ['err-no-such-group'] }), {
    statusCode: 404, message: /channel group 'err-no-such-group' does not exist/,
  });
  const stranger = client('err-stranger', { subscribeKey: 'not-a-key' });
  await assertFails(stranger.hereNow({ channels: ['err-room'] }), {
    statusCode: 400, category: 'PNBadRequestCategory', message: /^Invalid Subscribe Key$/,
  });
  await assertFails(eve.publish({ channel: 'err-room', message: { hi: 1 } }), {
    statusCode: 402, message: /This feature is not turned on/,
  });
  // Nothing changed.
  assert.deepEqual(await eve.whereNow({}), { channels: [] });
});
