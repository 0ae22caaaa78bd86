'use strict';
// PubNub's REST presence API as raw HTTP (fetch): the exact answers of every
// endpoint (docs/pubnub-presence.md §3), headers, CORS, errors, subscribe
// long-polls (handshake, catch-up after a gap, group subscriptions, the
// history bound), metrics, and the drain on SIGTERM.
//
// Run by run_node_test.sh; the tests start their own servers.

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { startServer } = require('./server');

let server;

before(async () => {
  server = await startServer([
    '--pubnub_subscribe_keys=demo,sub-c-2',
    '--metrics_address=127.0.0.1:0',
    '--pubnub_long_poll_timeout=2s',
    '--min_timeout_seconds=1',
  ]);
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

const JS_CONTENT_TYPE = 'text/javascript; charset="UTF-8"';

// GETs a path of `on` (a started server); resolves with {status, headers, body}.
async function get(path, { on = server, method = 'GET', headers = {}, signal } = {}) {
  const response = await fetch(on.base + path, { method, headers, signal });
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* Not JSON: kept as text. */ }
  return { status: response.status, headers: response.headers, body };
}

async function ok(path, options) {
  const response = await get(path, options);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

const hb = (sk, channels, query) =>
  `/v2/presence/${sk}/demo/channel/${channels}/heartbeat?${query}`;

function assertError(response, status, message, service = 'Presence') {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.status, status);
  assert.equal(response.body.error, true);
  assert.equal(response.body.service, service);
  assert.match(response.body.message, message);
}

test('every response has the PubNub content type and CORS headers', async () => {
  for (const path of ['/time/0', '/v2/presence/sub-key/demo/channel/h-none', '/publish/x/y/0/c/0/1',
    '/v2/presence/sub-key/demo/channel/bad:name']) {
    const { headers } = await get(path);
    assert.equal(headers.get('content-type'), JS_CONTENT_TYPE, path);
    assert.equal(headers.get('access-control-allow-origin'), '*', path);
    assert.equal(headers.get('access-control-allow-methods'), 'OPTIONS, GET, POST', path);
    assert.equal(headers.get('cache-control'), 'no-cache', path);
  }
});

test('OPTIONS is a CORS preflight', async () => {
  const response = await get('/v2/presence/sub-key/demo/channel/h-a/heartbeat', {
    method: 'OPTIONS',
    headers: { 'Access-Control-Request-Headers': 'x-custom', Origin: 'http://app.example' },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  assert.equal(response.headers.get('access-control-allow-methods'), 'OPTIONS, GET, POST');
  assert.equal(response.headers.get('access-control-allow-headers'), 'x-custom');
  assert.equal(response.body, '');
});

test('time', async () => {
  const body = await ok('/time/0');
  assert.equal(body.length, 1);
  assert.match(String(body[0]), /^\d{17}$/);
});

test('heartbeat, here_now (flat, payload, global, state, disable_uuids), where_now, leave', async () => {
  assert.deepEqual(
    await ok(hb('sub-key', 'h-a,h-b', 'uuid=h-alice&heartbeat=60&state=%7B%22h-a%22%3A%7B%22age%22%3A10%7D%7D')),
    { status: 200, message: 'OK', service: 'Presence' });
  // sub_key (Rust, Go), and no heartbeat= at all (c-core): the default.
  assert.deepEqual(await ok(hb('sub_key', 'h-a', 'uuid=h-bob')),
    { status: 200, message: 'OK', service: 'Presence' });

  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/h-a?limit=1000'),
    { status: 200, message: 'OK', service: 'Presence', uuids: ['h-alice', 'h-bob'], occupancy: 2 });
  assert.deepEqual(await ok('/v2/presence/sub_key/demo/channel/h-a?state=1'), {
    status: 200, message: 'OK', service: 'Presence',
    uuids: [{ uuid: 'h-alice', state: { age: 10 } }, { uuid: 'h-bob' }], occupancy: 2,
  });
  for (const flag of ['disable_uuids=1', 'disable-uuids=1', 'disable_uuids=true']) {
    assert.deepEqual(await ok(`/v2/presence/sub-key/demo/channel/h-a?${flag}`),
      { status: 200, message: 'OK', service: 'Presence', occupancy: 2 }, flag);
  }
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/h-a?disable-uuids=0&state=0'),
    { status: 200, message: 'OK', service: 'Presence', uuids: ['h-alice', 'h-bob'], occupancy: 2 });
  // limit=0: occupancy only, with an empty list (SDKs map over it).
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/h-a?limit=0'),
    { status: 200, message: 'OK', service: 'Presence', uuids: [], occupancy: 2 });

  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/h-a,h-b,h-empty'), {
    status: 200, message: 'OK', service: 'Presence',
    payload: {
      channels: {
        'h-a': { uuids: ['h-alice', 'h-bob'], occupancy: 2 },
        'h-b': { uuids: ['h-alice'], occupancy: 1 },
        'h-empty': { uuids: [], occupancy: 0 },
      },
      total_channels: 3, total_occupancy: 3,
    },
  });
  const global = await ok('/v2/presence/sub-key/demo?disable_uuids=1');
  assert.deepEqual(global.payload.channels['h-a'], { occupancy: 2 });
  assert.equal(global.payload.total_channels, Object.keys(global.payload.channels).length);

  assert.deepEqual(await ok('/v2/presence/sub-key/demo/uuid/h-alice'),
    { status: 200, message: 'OK', payload: { channels: ['h-a', 'h-b'] }, service: 'Presence' });

  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/h-b,h-a/leave?uuid=h-alice'),
    { status: 200, action: 'leave', message: 'OK', service: 'Presence' });
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/uuid/h-alice')).payload, { channels: [] });
});

test('channel groups in here_now, heartbeat and leave, with the "," placeholder', async () => {
  const registry = '/v1/channel-registration/sub-key/demo/channel-group';
  assert.deepEqual(await ok(`${registry}/g-one?add=g-a%2Cg-b`),
    { status: 200, message: 'OK', service: 'channel-registry', error: false });
  await ok(`${registry}/g-two?add=g-c`);
  await ok(hb('sub-key', ',', 'uuid=g-user&heartbeat=60&channel-group=g-one%2Cg-two'));
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/,?channel-group=g-one'), {
    status: 200, message: 'OK', service: 'Presence',
    payload: {
      channels: { 'g-a': { uuids: ['g-user'], occupancy: 1 }, 'g-b': { uuids: ['g-user'], occupancy: 1 } },
      total_channels: 2, total_occupancy: 2,
    },
  });
  // One channel plus a group: the payload shape.
  const mixed = await ok('/v2/presence/sub-key/demo/channel/g-c?channel-group=g-one');
  assert.deepEqual(Object.keys(mixed.payload.channels).sort(), ['g-a', 'g-b', 'g-c']);
  await ok('/v2/presence/sub-key/demo/channel/,/leave?uuid=g-user&channel-group=g-two');
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/uuid/g-user')).payload.channels, ['g-a', 'g-b']);
});

test('set and get state: one object for every channel; the real shapes', async () => {
  await ok(hb('sub-key', 's-1,s-2,s-3', 'uuid=s-user&heartbeat=60'));
  await ok('/v1/channel-registration/sub-key/demo/channel-group/s-group?add=s-3');
  const state = encodeURIComponent(JSON.stringify({ count: 5, name: 'Alex' }));
  assert.deepEqual(
    await ok(`/v2/presence/sub-key/demo/channel/s-1,s-2/uuid/s-user/data?state=${state}&channel-group=s-group`),
    { status: 200, message: 'OK', payload: { count: 5, name: 'Alex' }, service: 'Presence' });
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/s-1/uuid/s-user'), {
    status: 200, uuid: 's-user', service: 'Presence', message: 'OK',
    payload: { count: 5, name: 'Alex' }, channel: 's-1',
  });
  assert.deepEqual(await ok('/v2/presence/sub_key/demo/channel/s-1,s-2/uuid/s-user'), {
    status: 200, message: 'OK', service: 'Presence', uuid: 's-user',
    payload: { channels: { 's-1': { count: 5, name: 'Alex' }, 's-2': { count: 5, name: 'Alex' } } },
  });
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/,/uuid/s-user?channel-group=s-group'), {
    status: 200, message: 'OK', service: 'Presence', uuid: 's-user',
    payload: { channels: { 's-3': { count: 5, name: 'Alex' } } },
  });
  // Heartbeat state keyed by channel, and unkeyed (setState withHeartbeat).
  await ok(hb('sub-key', 's-1,s-2', `uuid=s-user&state=${encodeURIComponent('{"s-1":{"k":1}}')}`));
  await ok(hb('sub-key', 's-2', `uuid=s-user&state=${encodeURIComponent('{"k":2}')}`));
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/channel/s-1,s-2/uuid/s-user')).payload.channels,
    { 's-1': { k: 1 }, 's-2': { k: 2 } });
  // A uuid with a '/' and a '+' (percent-encoded; the '/' inside its segment).
  await ok(hb('sub-key', 's-1', `uuid=${encodeURIComponent('a/b+c')}&heartbeat=60`));
  assert.deepEqual((await ok(`/v2/presence/sub-key/demo/uuid/${encodeURIComponent('a/b+c')}`)).payload,
    { channels: ['s-1'] });
});

test('the channel registry answers', async () => {
  const registry = '/v1/channel-registration/sub-key/demo/channel-group';
  await ok(`${registry}/r-group?add=r-1%2Cr-2%2Cr-3`);
  assert.deepEqual(await ok(`${registry}/r-group`), {
    status: 200, payload: { channels: ['r-1', 'r-2', 'r-3'], group: 'r-group' },
    service: 'channel-registry', error: false,
  });
  assert.deepEqual(await ok(`${registry}/r-group?remove=r-2`),
    { status: 200, message: 'OK', service: 'channel-registry', error: false });
  assert.deepEqual((await ok(`${registry}/r-group`)).payload.channels, ['r-1', 'r-3']);
  const groups = await ok('/v1/channel-registration/sub_key/demo/channel-group');
  assert.equal(groups.payload.sub_key, 'demo');
  assert.ok(groups.payload.groups.includes('r-group'));
  assert.deepEqual(await ok(`${registry}/r-group/remove`),
    { status: 200, message: 'OK', service: 'channel-registry', error: false });
  // A group with no channels is empty, not an error.
  assert.deepEqual((await ok(`${registry}/r-group`)).payload, { channels: [], group: 'r-group' });
  await ok(`${registry}/r-group/remove`);
  await ok(`${registry}/r-group?remove=r-1`);
});

test('errors: PubNub bodies with the real status, naming the parameter; nothing changes', async () => {
  assertError(await get(hb('sub-key', 'e-ok', 'uuid=bad%20uuid')), 400, /^uuid: /);
  assertError(await get(hb('sub-key', 'e-ok', 'uuid=')), 400, /^uuid: /);
  assertError(await get(hb('sub-key', 'e-ok,bad*name', 'uuid=e-user')), 400,
    /^channels\[1\]: "bad\*name" contains '\*'/);
  assertError(await get(hb('sub-key', 'e-ok', 'uuid=e-user&channel-group=bad%3Agroup')), 400,
    /^channel-group\[0\]: /);
  assertError(await get(hb('sub-key', 'e-ok', 'uuid=e-user&heartbeat=soon')), 400,
    /^heartbeat: "soon" is not a number of seconds$/);
  assertError(await get(hb('sub-key', 'e-ok', 'uuid=e-user&state=%7Bnot%20json')), 400,
    /^state: not valid JSON/);
  assertError(await get(hb('sub-key', 'e-ok', `uuid=e-user&state=${encodeURIComponent('{"e-ok":[1]}')}`)),
    400, /^state\["e-ok"\]: must be a JSON object$/);
  assertError(await get(hb('sub-key', ',', 'uuid=e-user')), 400,
    /^channels, channel-group: at least one channel or channel group is required$/);
  const data = '/v2/presence/sub-key/demo/channel/e-ok/uuid/e-user/data';
  assertError(await get(`${data}?state=${encodeURIComponent('[1,2]')}`), 400, /^state: must be a JSON object$/);
  assertError(await get(`${data}?state=%22text%22`), 400, /^state: must be a JSON object$/);
  assertError(await get(data), 400, /^state: is required/);
  assertError(await get('/v2/presence/sub-key/demo/channel/e-ok?limit=5000'), 400, /^limit: /);
  assertError(await get('/v2/presence/sub-key/demo/channel/e-ok?disable_uuids=maybe'), 400, /^disable_uuids: /);
  assertError(await get('/v2/presence/sub-key/demo/channel/,?channel-group=e-nothing'), 404,
    /channel group 'e-nothing' does not exist/);
  assertError(await get('/v2/presence/sub-key/demo/channel/a%zz'), 400, /malformed percent-encoding/);
  assertError(await get('/v1/channel-registration/sub-key/demo/channel-group/bad:group?add=x'), 400,
    /^group: /, 'channel-registry');
  // Unknown keys, other features, unknown paths, other methods.
  assertError(await get('/v2/presence/sub-key/unknown-key/channel/e-ok'), 400, /^Invalid Subscribe Key$/);
  assertError(await get('/v1/channel-registration/sub-key/unknown-key/channel-group'), 400,
    /^Invalid Subscribe Key$/, 'channel-registry');
  assertError(await get('/v2/subscribe/unknown-key/e-ok/0'), 400, /^Invalid Subscribe Key$/);
  for (const path of ['/publish/pub-key/demo/0/e-ok/0/%22hello%22', '/v3/history/sub-key/demo/channel/e-ok',
    '/signal/pub-key/demo/0/e-ok/0/1', '/']) {
    assertError(await get(path), 402, /^This feature is not turned on for this account\./);
  }
  assertError(await get('/publish/pub-key/demo/0/e-ok/0', { method: 'POST' }), 402, /not turned on/);
  assertError(await get('/v2/presence/sub-key/demo/channel/e-ok/elsewhere'), 404, /^Not Found/);
  assertError(await get('/v2/presence/sub-key/demo/channel/e-ok', { method: 'POST' }), 405, /method POST/);
  // Nobody became present on e-ok.
  assert.deepEqual(await ok('/v2/presence/sub-key/demo/channel/e-ok'),
    { status: 200, message: 'OK', service: 'Presence', uuids: [], occupancy: 0 });
  // The second accepted key works.
  await ok('/v2/presence/sub-key/sub-c-2/channel/e-ok');
});

test('heartbeat timeouts outside the bounds are clamped, not refused', async () => {
  await ok(hb('sub-key', 'b-room', 'uuid=b-user&heartbeat=999999'));
  await ok(hb('sub-key', 'b-room', 'uuid=b-user&heartbeat=-5'));
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/channel/b-room')).uuids, ['b-user']);
});

// Waits until `on` (started with --metrics_address) holds `n` long-polls.
async function heldPolls(on, n) {
  const line = new RegExp(`^presence_pubnub_held_polls ${n}$`, 'm');
  while (!line.test(await (await fetch(on.metrics)).text())) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// Returns the t.t cursor of a subscribe answer after checking its shape.
function cursorOf(body) {
  assert.match(body.t.t, /^\d{17}$/);
  assert.notEqual(body.t.r, 0);
  return body.t.t;
}

test('subscribe: the handshake answers at once, later polls catch up in order', async () => {
  const handshake = await ok('/v2/subscribe/demo/l-room-pnpres/0?uuid=l-watcher&ee=');
  assert.deepEqual(handshake.m, []);
  const cursor = cursorOf(handshake);

  // Three changes while no poll is held: nothing is lost.
  await ok(hb('sub-key', 'l-room', 'uuid=l-1&heartbeat=60'));
  await ok(hb('sub-key', 'l-room', `uuid=l-1&state=${encodeURIComponent('{"l-room":{"x":1}}')}`));
  await ok('/v2/presence/sub-key/demo/channel/l-room/leave?uuid=l-1');
  const poll = await ok(`/v2/subscribe/demo/l-room-pnpres/0?uuid=l-watcher&tt=${cursor}&tr=1`);
  assert.equal(poll.m.length, 3);
  const [join, change, leave] = poll.m;
  assert.deepEqual(Object.keys(join).sort(), ['a', 'b', 'c', 'd', 'f', 'k', 'p']);
  assert.equal(join.a, '2');
  assert.equal(join.f, 0);
  assert.equal(join.k, 'demo');
  assert.equal(join.c, 'l-room-pnpres');
  assert.equal(join.b, 'l-room-pnpres');
  assert.deepEqual(Object.keys(join.d).sort(), ['action', 'occupancy', 'timestamp', 'uuid']);
  assert.deepEqual([join.d.action, join.d.uuid, join.d.occupancy], ['join', 'l-1', 1]);
  assert.ok(Math.abs(join.d.timestamp - Date.now() / 1000) < 60);
  assert.equal(String(join.d.timestamp), join.p.t.slice(0, 10));
  assert.deepEqual(change.d.data, { x: 1 });
  assert.deepEqual([change.d.action, leave.d.action, leave.d.occupancy], ['state-change', 'leave', 0]);
  const times = poll.m.map((m) => BigInt(m.p.t));
  assert.ok(times[0] > BigInt(cursor) && times[0] < times[1] && times[1] < times[2]);
  assert.equal(poll.t.t, leave.p.t);

  // Nothing after the last: held until the long-poll timeout, then empty.
  const empty = await ok(`/v2/subscribe/demo/l-room-pnpres/0?uuid=l-watcher&tt=${poll.t.t}&tr=1`);
  assert.deepEqual(empty.m, []);
  assert.ok(BigInt(cursorOf(empty)) > BigInt(poll.t.t));

  // A held poll is answered by the next change.
  const held = get(`/v2/subscribe/demo/l-room-pnpres/0?uuid=l-watcher&tt=${empty.t.t}&tr=1`);
  await ok(hb('sub-key', 'l-room', 'uuid=l-2&heartbeat=60'));
  const woken = (await held).body;
  assert.deepEqual(woken.m.map((m) => [m.d.action, m.d.uuid]), [['join', 'l-2']]);
});

test('subscribe through a channel group: b names the group', async () => {
  await ok('/v1/channel-registration/sub-key/demo/channel-group/sg-group?add=sg-1');
  const cursor = cursorOf(await ok('/v2/subscribe/demo/,/0?uuid=sg-w&channel-group=sg-group-pnpres'));
  await ok(hb('sub-key', 'sg-1', 'uuid=sg-user&heartbeat=60'));
  const poll = await ok(`/v2/subscribe/demo/,/0?uuid=sg-w&channel-group=sg-group-pnpres&tt=${cursor}`);
  assert.deepEqual(poll.m.map((m) => [m.c, m.b, m.d.action, m.d.uuid]),
    [['sg-1-pnpres', 'sg-group-pnpres', 'join', 'sg-user']]);
});

test('a subscribe is a heartbeat; a closed connection is not a leave', async () => {
  const handshake = await ok('/v2/subscribe/demo/c-room,c-room-pnpres/0?uuid=c-user&heartbeat=60');
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/channel/c-room')).uuids, ['c-user']);
  const abort = new AbortController();
  const held = get(`/v2/subscribe/demo/c-room,c-room-pnpres/0?uuid=c-user&tt=${handshake.t.t}`,
    { signal: abort.signal });
  await heldPolls(server, 1);
  abort.abort();
  await assert.rejects(held);
  await heldPolls(server, 0); // The server saw the connection close.
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/channel/c-room')).uuids, ['c-user']);
  // A subscribe without heartbeat= keeps the uuid's timeout: state= too.
  await ok(`/v2/subscribe/demo/c-room/0?uuid=c-user&state=${encodeURIComponent('{"c-room":{"on":true}}')}`);
  assert.deepEqual((await ok('/v2/presence/sub-key/demo/channel/c-room/uuid/c-user')).payload, { on: true });
});

test('metrics count requests and held polls', async () => {
  const metrics = await (await fetch(server.metrics)).text();
  assert.match(metrics, /^presence_http_requests_total\{endpoint="here_now",code="2xx"\} [1-9]/m);
  assert.match(metrics, /^presence_http_requests_total\{endpoint="other_feature",code="4xx"\} [1-9]/m);
  assert.match(metrics, /^presence_pubnub_held_polls \d+$/m);
  assert.match(metrics, /^presence_pubnub_history_gaps_total 0$/m);
  assert.match(metrics, /^presence_http_connections \d+$/m);
});

test('a poll older than the history gets what is left, and the gap is counted', async () => {
  const small = await startServer(['--pubnub_history_events=2', '--metrics_address=127.0.0.1:0']);
  try {
    const cursor = cursorOf(await ok('/v2/subscribe/demo/x-room-pnpres/0?uuid=w', { on: small }));
    for (const user of ['x-1', 'x-2', 'x-3']) {
      await ok(hb('sub-key', 'x-room', `uuid=${user}&heartbeat=60`), { on: small });
    }
    const poll = await ok(`/v2/subscribe/demo/x-room-pnpres/0?uuid=w&tt=${cursor}`, { on: small });
    assert.deepEqual(poll.m.map((m) => m.d.uuid), ['x-2', 'x-3']);
    const metrics = await (await fetch(small.metrics)).text();
    assert.match(metrics, /^presence_pubnub_history_gaps_total 1$/m);
  } finally {
    assert.equal(await small.stop(), 0);
  }
});

test('SIGTERM answers a held long-poll at once and exits 0', async () => {
  const draining = await startServer(['--pubnub_long_poll_timeout=120s', '--metrics_address=127.0.0.1:0']);
  const cursor = cursorOf(await ok('/v2/subscribe/demo/d-room-pnpres/0?uuid=w', { on: draining }));
  const held = get(`/v2/subscribe/demo/d-room-pnpres/0?uuid=w&tt=${cursor}`, { on: draining });
  await heldPolls(draining, 1);
  const exit = draining.stop();
  const answer = await held;
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body.m, []);
  assert.ok(BigInt(cursorOf(answer.body)) > BigInt(cursor));
  assert.equal(answer.headers.get('connection'), 'close');
  assert.equal(await exit, 0);
  assert.match(draining.log(), /received SIGTERM/);
});
