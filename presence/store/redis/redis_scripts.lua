-- The presence store's Redis scripts. Every RPC runs as one script, so it is
-- one atomic step in Redis. See redis_store.h for the key layout.
--
-- This file is the library every script starts with; each script's body
-- follows a line "--@@ <name>" and ends at the next such line or the end.
--
-- ARGV of every script:
--   1 namespace   2 shard count   3 now (ms, rounded down)   4 announce_max
--   5 interval (ms)   6 interval list cap (bytes)   7 stream max length
-- and the script's own arguments from ARGV[8] on.

local NS = ARGV[1]
local NSHARDS = tonumber(ARGV[2])
local NOW = tonumber(ARGV[3])
local ANNOUNCE_MAX = tonumber(ARGV[4])
local INTERVAL = tonumber(ARGV[5])
local LISTS_MAX = tonumber(ARGV[6])
local MAXLEN = ARGV[7]
local NOW_S = math.floor(NOW / 1000)  -- The current Unix second.
local SEP = '\1'   -- between list items (names have no control characters)
local KV = '\2'    -- between a session id and its deadline

-- The shard of a channel or user name. Stays below 2^31 so that every step
-- is exact in Lua's doubles.
local function shard_of(name)
  local h = 0
  for i = 1, #name do h = (h * 31 + string.byte(name, i)) % 2147483629 end
  return h % NSHARDS
end

-- A shard's key prefix; the hash tag keeps a shard in one cluster slot.
local function P(shard) return NS .. ':{s' .. shard .. '}' end
local function GP() return NS .. ':{g}' end

local function split(s)
  local out = {}
  if s == nil or s == false or s == '' then return out end
  for item in string.gmatch(s, '[^' .. SEP .. ']+') do out[#out + 1] = item end
  return out
end

-- Reads ARGV[i] as a count n followed by n items; returns items, next i.
local function read_list(i)
  local n = tonumber(ARGV[i])
  local out = {}
  for k = 1, n do out[k] = ARGV[i + k] end
  return out, i + n + 1
end

-- Sessions of a membership: "sid\2deadline" joined by \1 ("" is the
-- default session).
local function parse_sessions(v)
  local out = {}
  for entry in string.gmatch(v, '[^' .. SEP .. ']+') do
    local at = string.find(entry, KV, 1, true)
    out[#out + 1] = {string.sub(entry, 1, at - 1), tonumber(string.sub(entry, at + 1))}
  end
  return out
end

local function encode_sessions(list)
  local parts = {}
  for i, s in ipairs(list) do parts[i] = s[1] .. KV .. string.format('%d', s[2]) end
  return table.concat(parts, SEP)
end

local function latest(list)
  local m = 0
  for _, s in ipairs(list) do if s[2] > m then m = s[2] end end
  return m
end

-- Epochs, the high 32 bits of sequences. A channel that becomes active gets
-- max(the current Unix second, its previous epoch + 1): its epochs increase,
-- and they do not repeat when a store restarts (or Redis loses its data)
-- unless that is quicker than how far they ran ahead of the clock. After a
-- channel goes inactive its epoch is remembered in the shard's ZSET epz
-- (channel -> epoch) until expire_shard finds it below the current second;
-- epf is a second above every epoch pruned, so that a caller whose clock
-- reads earlier than the pruner's cannot reuse one either.
local function new_epoch(p, ch)
  local epoch = NOW_S
  local floor = tonumber(redis.call('GET', p .. ':epf') or 0)
  if floor > epoch then epoch = floor end
  local past = redis.call('ZSCORE', p .. ':epz', ch)
  if past then
    past = tonumber(past) + 1
    if past > epoch then epoch = past end
    redis.call('ZREM', p .. ':epz', ch)
  end
  return epoch
end

local function prune_epochs(p)
  if redis.call('ZREMRANGEBYSCORE', p .. ':epz', '-inf', '(' .. NOW_S) > 0 then
    local floor = tonumber(redis.call('GET', p .. ':epf') or 0)
    if NOW_S > floor then redis.call('SET', p .. ':epf', NOW_S) end
  end
end

-- Appends an event to the shard's stream. `extra` holds more fields.
local function emit(p, ch, kind, user, occupancy, state, extra)
  local count = redis.call('HINCRBY', p .. ':seq', ch, 1)
  local epoch = redis.call('HGET', p .. ':ep', ch)
  local args = {p .. ':events', 'MAXLEN', '~', MAXLEN, '*',
                't', kind, 'c', ch, 'o', occupancy, 'ms', string.format('%d', NOW),
                'q', epoch .. ':' .. count}
  if user ~= '' then args[#args + 1] = 'u'; args[#args + 1] = user end
  if state ~= '' then args[#args + 1] = 's'; args[#args + 1] = state end
  if extra then
    for k, v in pairs(extra) do args[#args + 1] = k; args[#args + 1] = v end
  end
  redis.call('XADD', unpack(args))
end

-- Interval mode: pending joins, leaves and timeouts of a channel above
-- announce_max, in keys ivj/ivl/ivx (lists), ivb (bytes) and ivr (too many).
local function accumulate(p, ch, kind, user)
  local base = p .. ':iv'
  if redis.call('HEXISTS', base .. 'r', ch) == 1 then return end
  local bytes = redis.call('HINCRBY', base .. 'b', ch, #user + 3)
  if bytes > LISTS_MAX then
    redis.call('HSET', base .. 'r', ch, 1)
    redis.call('HDEL', base .. 'j', ch)
    redis.call('HDEL', base .. 'l', ch)
    redis.call('HDEL', base .. 'x', ch)
    return
  end
  local key = base .. (kind == 'join' and 'j' or (kind == 'leave' and 'l' or 'x'))
  local current = redis.call('HGET', key, ch)
  redis.call('HSET', key, ch, current and (current .. SEP .. user) or user)
end

local function flush_interval(p, ch, occupancy)
  local base = p .. ':iv'
  local extra = {}
  if redis.call('HEXISTS', base .. 'r', ch) == 1 then
    extra.r = '1'
  else
    extra.j = redis.call('HGET', base .. 'j', ch) or ''
    extra.l = redis.call('HGET', base .. 'l', ch) or ''
    extra.x = redis.call('HGET', base .. 'x', ch) or ''
  end
  for _, suffix in ipairs({'j', 'l', 'x', 'b', 'r'}) do
    redis.call('HDEL', base .. suffix, ch)
  end
  emit(p, ch, 'interval', '', occupancy, '', extra)
end

-- Emits what a join, leave or timeout means for consumers: active before a
-- channel's first join, per-user events up to announce_max and interval
-- accumulation above it, inactive after its last leave.
local function membership_event(p, ch, kind, user, before, after, state)
  if before == 0 then
    redis.call('HSET', p .. ':ep', ch, string.format('%d', new_epoch(p, ch)))
    redis.call('HSET', p .. ':seq', ch, 0)
    redis.call('SADD', p .. ':channels', ch)
    emit(p, ch, 'active', '', after, '')
  end
  local in_interval = redis.call('ZSCORE', p .. ':ivz', ch)
  if after > ANNOUNCE_MAX then
    if not in_interval then redis.call('ZADD', p .. ':ivz', NOW + INTERVAL, ch) end
    accumulate(p, ch, kind, user)
  else
    if in_interval then
      flush_interval(p, ch, before)
      redis.call('ZREM', p .. ':ivz', ch)
    end
    emit(p, ch, kind, user, after, state)
  end
  if after == 0 then
    emit(p, ch, 'inactive', '', 0, '')
    redis.call('ZADD', p .. ':epz', redis.call('HGET', p .. ':ep', ch), ch)
    redis.call('HDEL', p .. ':ep', ch)
    redis.call('HDEL', p .. ':seq', ch)
    redis.call('SREM', p .. ':channels', ch)
  end
end

local function remove_membership(p, ch, user, kind)
  local mk = p .. ':m:' .. ch
  local before = redis.call('ZCARD', mk)
  redis.call('ZREM', mk, user)
  redis.call('HDEL', p .. ':ss:' .. ch, user)
  redis.call('HDEL', p .. ':st:' .. ch, user)
  redis.call('ZREM', p .. ':dl', ch .. '\0' .. user)
  redis.call('SREM', p .. ':u:' .. user, ch)
  membership_event(p, ch, kind, user, before, before - 1, '')
end

-- Times out what is due in a shard and emits the interval events due.
local function expire_shard(p)
  prune_epochs(p)
  while true do
    local due = redis.call('ZRANGEBYSCORE', p .. ':dl', '-inf', NOW, 'LIMIT', 0, 500)
    for _, member in ipairs(due) do
      local at = string.find(member, '\0', 1, true)
      remove_membership(p, string.sub(member, 1, at - 1), string.sub(member, at + 1), 'timeout')
    end
    if #due < 500 then break end
  end
  local intervals = redis.call('ZRANGEBYSCORE', p .. ':ivz', '-inf', NOW, 'WITHSCORES')
  for i = 1, #intervals, 2 do
    local ch = intervals[i]
    flush_interval(p, ch, redis.call('ZCARD', p .. ':m:' .. ch))
    local next_at = tonumber(intervals[i + 1]) + INTERVAL
    if next_at <= NOW then next_at = NOW + INTERVAL end
    redis.call('ZADD', p .. ':ivz', next_at, ch)
  end
end

-- Expires every shard holding one of `channels` (each once).
local function expire_for(channels)
  local done = {}
  for _, ch in ipairs(channels) do
    local s = shard_of(ch)
    if not done[s] then
      done[s] = true
      expire_shard(P(s))
    end
  end
end

local function expire_all()
  for s = 0, NSHARDS - 1 do expire_shard(P(s)) end
end

-- Returns the sorted union of the groups' channels, or raises NOTFOUND.
local function expand_groups(groups)
  local seen, out = {}, {}
  for _, g in ipairs(groups) do
    local key = GP() .. ':g:' .. g
    if redis.call('EXISTS', key) == 0 then
      return nil, g
    end
    for _, ch in ipairs(redis.call('SMEMBERS', key)) do
      if not seen[ch] then
        seen[ch] = true
        out[#out + 1] = ch
      end
    end
  end
  return out
end

-- The union of explicit channels and groups' channels, as a set and a list.
local function targets(channels, groups)
  local expanded, missing = expand_groups(groups)
  if missing then return nil, nil, missing end
  local set, list = {}, {}
  for _, ch in ipairs(channels) do
    if not set[ch] then set[ch] = true; list[#list + 1] = ch end
  end
  for _, ch in ipairs(expanded) do
    if not set[ch] then set[ch] = true; list[#list + 1] = ch end
  end
  return set, list
end

local function not_found(group)
  return redis.error_reply('NOTFOUND ' .. group)
end

-- Sets a member's state, emitting a state change when it differs.
local function set_state(p, ch, user, state)
  local key = p .. ':st:' .. ch
  local current = redis.call('HGET', key, user) or ''
  if current == state then return end
  if state == '' then
    redis.call('HDEL', key, user)
  else
    redis.call('HSET', key, user, state)
  end
  emit(p, ch, 'state-change', user, redis.call('ZCARD', p .. ':m:' .. ch), state)
end

local function present(p, ch, user)
  return redis.call('ZSCORE', p .. ':m:' .. ch, user) ~= false
end

-- Group changes go to their own stream with the group's channels after.
local function group_changed(group)
  local members = redis.call('SMEMBERS', GP() .. ':g:' .. group)
  redis.call('XADD', GP() .. ':events', 'MAXLEN', '~', MAXLEN, '*', 'g', group,
             'cs', table.concat(members, SEP))
end

-- The exclusive-delivery lease's holder and expiry (ms), or nil when there
-- is none (a value without an expiry counts as expired).
local function lease_holder()
  local value = redis.call('GET', GP() .. ':lease')
  if not value then return nil, 0 end
  local at = string.find(value, SEP, 1, true)
  if not at then return value, 0 end
  return string.sub(value, 1, at - 1), tonumber(string.sub(value, at + 1)) or 0
end

-- The last id of every event stream: shards in order, then groups.
local function positions()
  local out = {}
  local function last_id(key)
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    return last[1] and last[1][1] or '0-0'
  end
  for s = 0, NSHARDS - 1 do out[#out + 1] = last_id(P(s) .. ':events') end
  out[#out + 1] = last_id(GP() .. ':events')
  return out
end

--@@ heartbeat
-- ARGV: user, session, deadline (ms, rounded up from the caller's clock so
-- it is never early), channels, groups, states (count, then key/state
-- pairs: a key is a channel or group of the request).
local user, session, deadline = ARGV[8], ARGV[9], tonumber(ARGV[10])
local channels, i = read_list(11)
local groups
groups, i = read_list(i)
local pairs_list = read_list(i)
local _, list, missing = targets(channels, groups)
if missing then return not_found(missing) end
-- A channel's own key wins over its groups' keys; groups in request order.
local is_channel, state_by_key = {}, {}
for _, ch in ipairs(channels) do is_channel[ch] = true end
for k = 1, #pairs_list, 2 do state_by_key[pairs_list[k]] = pairs_list[k + 1] end
local state_of = {}
for key, state in pairs(state_by_key) do
  if is_channel[key] then state_of[key] = state end
end
for _, g in ipairs(groups) do
  local state = state_by_key[g]
  if state then
    for _, ch in ipairs(redis.call('SMEMBERS', GP() .. ':g:' .. g)) do
      if state_of[ch] == nil then state_of[ch] = state end
    end
  end
end
expire_for(list)
for _, ch in ipairs(list) do
  local p = P(shard_of(ch))
  local mk = p .. ':m:' .. ch
  local ss = p .. ':ss:' .. ch
  local state = state_of[ch]
  local current = redis.call('HGET', ss, user)
  if not current then
    local before = redis.call('ZCARD', mk)
    redis.call('ZADD', mk, 0, user)
    redis.call('HSET', ss, user, encode_sessions({{session, deadline}}))
    redis.call('ZADD', p .. ':dl', deadline, ch .. '\0' .. user)
    redis.call('SADD', p .. ':u:' .. user, ch)
    if state and state ~= '' then redis.call('HSET', p .. ':st:' .. ch, user, state) end
    membership_event(p, ch, 'join', user, before, before + 1, state or '')
  else
    local kept, found = {}, false
    for _, s in ipairs(parse_sessions(current)) do
      if s[1] == session then
        kept[#kept + 1] = {session, deadline}
        found = true
      elseif s[2] > NOW then
        kept[#kept + 1] = s
      end
    end
    if not found then kept[#kept + 1] = {session, deadline} end
    redis.call('HSET', ss, user, encode_sessions(kept))
    redis.call('ZADD', p .. ':dl', latest(kept), ch .. '\0' .. user)
    if state then set_state(p, ch, user, state) end
  end
end
return 'OK'

--@@ leave
-- ARGV: user, session, channels, groups. Returns the channels left.
local user, session = ARGV[8], ARGV[9]
local channels, i = read_list(10)
local groups = read_list(i)
local _, list, missing = targets(channels, groups)
if missing then return not_found(missing) end
expire_for(list)
local left = {}
for _, ch in ipairs(list) do
  local p = P(shard_of(ch))
  local ss = p .. ':ss:' .. ch
  local current = redis.call('HGET', ss, user)
  if current then
    local sessions = parse_sessions(current)
    local kept = {}
    if #sessions == 1 then
      if sessions[1][1] ~= session then kept = sessions end
    else
      for _, s in ipairs(sessions) do
        if s[1] ~= session and s[2] > NOW then kept[#kept + 1] = s end
      end
    end
    if #kept == 0 then
      remove_membership(p, ch, user, 'leave')
      left[#left + 1] = ch
    elseif #kept ~= #sessions then
      redis.call('HSET', ss, user, encode_sessions(kept))
      redis.call('ZADD', p .. ':dl', latest(kept), ch .. '\0' .. user)
    end
  end
end
return left

--@@ set_state
-- ARGV: user, state ("" clears), channels, groups. Returns the channels set,
-- or ABSENT with the explicit channels where the user is not present.
local user, state = ARGV[8], ARGV[9]
local channels, i = read_list(10)
local groups = read_list(i)
local _, list, missing = targets(channels, groups)
if missing then return not_found(missing) end
expire_for(list)
local absent = {}
for _, ch in ipairs(channels) do
  if not present(P(shard_of(ch)), ch, user) then absent[#absent + 1] = ch end
end
if #absent > 0 then
  return redis.error_reply('ABSENT ' .. table.concat(absent, SEP))
end
local set = {}
for _, ch in ipairs(list) do
  local p = P(shard_of(ch))
  if present(p, ch, user) then
    set_state(p, ch, user, state)
    set[#set + 1] = ch
  end
end
return set

--@@ get_state
-- ARGV: user, channels, groups. Returns channel, state pairs where present.
local user = ARGV[8]
local channels, i = read_list(9)
local groups = read_list(i)
local _, list, missing = targets(channels, groups)
if missing then return not_found(missing) end
expire_for(list)
local out = {}
for _, ch in ipairs(list) do
  local p = P(shard_of(ch))
  if present(p, ch, user) then
    out[#out + 1] = ch
    out[#out + 1] = redis.call('HGET', p .. ':st:' .. ch, user) or ''
  end
end
return out

--@@ here_now
-- ARGV: include_user_ids (0/1), include_state (0/1), limit, offset,
-- channels, groups; no channels and no groups means every occupied channel.
-- Returns per channel: name, occupancy, user ids, states (the ids' states
-- when include_state, else empty).
local include_ids, include_state = ARGV[8] == '1', ARGV[9] == '1'
local limit, offset = tonumber(ARGV[10]), tonumber(ARGV[11])
local channels, i = read_list(12)
local groups = read_list(i)
local named, list = {}, {}
if #channels == 0 and #groups == 0 then
  expire_all()
  for s = 0, NSHARDS - 1 do
    for _, ch in ipairs(redis.call('SMEMBERS', P(s) .. ':channels')) do
      list[#list + 1] = ch
    end
  end
else
  local expanded, missing = select(2, targets(channels, groups))
  if missing then return not_found(missing) end
  list = expanded
  for _, ch in ipairs(channels) do named[ch] = true end
  expire_for(list)
end
local out = {}
for _, ch in ipairs(list) do
  local p = P(shard_of(ch))
  local mk = p .. ':m:' .. ch
  local occupancy = redis.call('ZCARD', mk)
  if occupancy > 0 or named[ch] then
    local ids, states = {}, {}
    if include_ids and occupancy > offset then
      -- Equal scores: members in byte order, so pages are stable.
      ids = redis.call('ZRANGE', mk, offset, offset + limit - 1)
      if include_state then
        states = redis.call('HMGET', p .. ':st:' .. ch, unpack(ids))
        for k = 1, #ids do states[k] = states[k] or '' end
      end
    end
    out[#out + 1] = {ch, occupancy, ids, states}
  end
end
return out

--@@ where_now
-- ARGV: user. Returns the user's channels (unsorted).
local user = ARGV[8]
local out = {}
for s = 0, NSHARDS - 1 do
  local p = P(s)
  expire_shard(p)
  for _, ch in ipairs(redis.call('SMEMBERS', p .. ':u:' .. user)) do
    out[#out + 1] = ch
  end
end
return out

--@@ expire
-- Times out everything due and emits due interval events in every shard.
expire_all()
return 'OK'

--@@ group_add
-- ARGV: group, max channels per group, channels.
local group, max = ARGV[8], tonumber(ARGV[9])
local channels = read_list(10)
local key = GP() .. ':g:' .. group
local would = redis.call('SCARD', key)
for _, ch in ipairs(channels) do
  if redis.call('SISMEMBER', key, ch) == 0 then would = would + 1 end
end
if would > max then
  return redis.error_reply('GROUPFULL ' .. would)
end
redis.call('SADD', key, unpack(channels))
redis.call('SADD', GP() .. ':groups', group)
group_changed(group)
return 'OK'

--@@ group_remove
-- ARGV: group, channels.
local group = ARGV[8]
local channels = read_list(9)
local key = GP() .. ':g:' .. group
if redis.call('EXISTS', key) == 0 then return not_found(group) end
redis.call('SREM', key, unpack(channels))
if redis.call('EXISTS', key) == 0 then redis.call('SREM', GP() .. ':groups', group) end
group_changed(group)
return 'OK'

--@@ group_delete
-- ARGV: group.
local group = ARGV[8]
local key = GP() .. ':g:' .. group
if redis.call('EXISTS', key) == 0 then return not_found(group) end
redis.call('DEL', key)
redis.call('SREM', GP() .. ':groups', group)
group_changed(group)
return 'OK'

--@@ group_list
-- ARGV: group. Returns its channels (unsorted).
local key = GP() .. ':g:' .. ARGV[8]
if redis.call('EXISTS', key) == 0 then return not_found(ARGV[8]) end
return redis.call('SMEMBERS', key)

--@@ positions
-- Returns the last id of every stream: shards in order, then groups.
return positions()

--@@ group_snapshot
-- Returns the positions, then group, channels pairs: where an event reader
-- starts.
local out = positions()
for _, g in ipairs(redis.call('SMEMBERS', GP() .. ':groups')) do
  out[#out + 1] = g
  out[#out + 1] = table.concat(redis.call('SMEMBERS', GP() .. ':g:' .. g), SEP)
end
return out

--@@ lease
-- ARGV: owner, lease_ms. Takes or renews the exclusive-delivery lease;
-- returns 1 if `owner` holds it now, else 0. The lease is "owner\1expiry":
-- its expiry is in ms of the holder's clock, compared with the caller's
-- (like session deadlines), so it follows the replicas' injected clocks.
local key = GP() .. ':lease'
local owner, ms = ARGV[8], tonumber(ARGV[9])
local holder, expiry = lease_holder()
if holder == owner or holder == nil or expiry <= NOW then
  redis.call('SET', key, owner .. SEP .. string.format('%d', NOW + ms))
  return 1
end
return 0

--@@ checkpoint
-- ARGV: owner, then stream index, id pairs. Records how far the lease
-- holder has delivered; returns 0 (and records nothing) if it lost the lease.
local holder, expiry = lease_holder()
if holder ~= ARGV[8] or expiry <= NOW then return 0 end
for k = 9, #ARGV, 2 do
  redis.call('HSET', GP() .. ':cursor', ARGV[k], ARGV[k + 1])
end
return 1

--@@ cursor
-- Returns the delivery cursor: stream index, id pairs (may be empty).
return redis.call('HGETALL', GP() .. ':cursor')
