#!lua name=__LIBRARY__
-- The presence store's Redis functions: one library (FUNCTION LOAD), one
-- function per RPC, so each RPC is one atomic step in Redis. See
-- redis_store.h for the key layout.
--
-- The store loads the library under a name and function names that carry a
-- hash of this file (__LIBRARY__, _<version> suffixes), so replicas running
-- different versions can share a Redis. Library code runs once, at load;
-- a call only runs its function (no per-call set-up of the helpers, which
-- is what EVALSHA of a script this size would cost).
--
-- Arguments of every function (FCALL <name> 0 ...):
--   1 namespace   2 shard count   3 now (ms, rounded down)   4 announce_max
--   5 interval (ms)   6 interval list cap (bytes)   7 stream max length
-- and the function's own arguments from ARGV[8] on.

local VERSION = '__VERSION__'

-- The current call's arguments (set by every function before anything).
local ARGV
local NS, NSHARDS, NOW, NOW_S, ANNOUNCE_MAX, INTERVAL, LISTS_MAX, MAXLEN

local SEP = '\1'  -- between list items (names have no control characters)
local SS = '\3'   -- between a session id and its deadline
local SL = '\4'   -- between sessions

local KS = '\5'   -- between a membership's sessions and its wheel entry's place

-- The deadline wheel: each membership has one entry "<channel>\1<user>" in
-- slot <second>:<k>, a ZSET (score: the entry's deadline, ms) small enough
-- for Redis's compact (listpack) encoding; when slot :0 of a second is
-- full, :1, :2 ... take the rest (the last one opened is in the shard's wf
-- hash). An entry is never later than its membership's deadline, but may
-- be earlier: a heartbeat that extends the deadline leaves the entry where
-- it is, and the sweep that finds it due files it again at the deadline
-- (once per timeout, instead of moving it at every heartbeat).
local SLOT_MAX = 128  -- zset-max-listpack-entries' default
local TICK = 1000     -- ms of deadlines per slot

-- Per call: the wheel slot each second's entries go to now (see wheel_add),
-- and the membership and session counts to add to each shard at the end.
local open_slots, tallies

local function setup(args)
  ARGV = args
  open_slots, tallies = {}, {}
  NS = args[1]
  NSHARDS = tonumber(args[2])
  NOW = tonumber(args[3])
  ANNOUNCE_MAX = tonumber(args[4])
  INTERVAL = tonumber(args[5])
  LISTS_MAX = tonumber(args[6])
  MAXLEN = args[7]
  NOW_S = math.floor(NOW / 1000)  -- The current Unix second.
end

local function ms(x) return string.format('%d', x) end

-- The shard of a channel name. Stays below 2^31 so that every step is
-- exact in Lua's doubles.
local function shard_of(name)
  local h = 0
  for i = 1, #name do h = (h * 31 + string.byte(name, i)) % 2147483629 end
  return h % NSHARDS
end

-- A shard's key prefix; the hash tag keeps a shard in one cluster slot.
local function P(shard) return NS .. ':{s' .. shard .. '}' end
local function GP() return NS .. ':{g}' end

-- Reads ARGV[i] as a count n followed by n items; returns items, next i.
local function read_list(i)
  local n = tonumber(ARGV[i])
  local out = {}
  for k = 1, n do out[k] = ARGV[i + k] end
  return out, i + n + 1
end

-- A membership's deadline: its latest session's.
local function latest(list)
  local m = 0
  for _, s in ipairs(list) do if s[2] > m then m = s[2] end end
  return m
end

-- A membership (HASH <shard>:d:<channel>, field user): its sessions, and
-- where its wheel entry is. Sessions are stored as the deadline alone when
-- the default session ("") is the only one, else as "id\3deadline" items
-- joined by \4; then, unless the entry is in slot <second of the
-- deadline>:0, "\5<seconds from the entry's second to the deadline's>"
-- and ":<k>" if k is not 0. Parsed into a list of {id, deadline}, the
-- entry's second and k.
local function parse_membership(v)
  local back, k = 0, '0'
  local at = string.find(v, KS, 1, true)
  if at then
    local place = string.sub(v, at + 1)
    v = string.sub(v, 1, at - 1)
    local colon = string.find(place, ':', 1, true)
    if colon then
      back = tonumber(string.sub(place, 1, colon - 1))
      k = string.sub(place, colon + 1)
    else
      back = tonumber(place)
    end
  end
  local sessions
  if not string.find(v, SS, 1, true) then
    sessions = {{'', tonumber(v)}}
  else
    sessions = {}
    for entry in string.gmatch(v, '[^' .. SL .. ']+') do
      local sep = string.find(entry, SS, 1, true)
      sessions[#sessions + 1] = {string.sub(entry, 1, sep - 1),
                                 tonumber(string.sub(entry, sep + 1))}
    end
  end
  return sessions, math.floor(latest(sessions) / TICK) - back, k
end

local function encode_membership(list, tick, k)
  local v
  if #list == 1 and list[1][1] == '' then
    v = ms(list[1][2])
  else
    local parts = {}
    for i, s in ipairs(list) do parts[i] = s[1] .. SS .. ms(s[2]) end
    v = table.concat(parts, SL)
  end
  local back = math.floor(latest(list) / TICK) - tick
  if k ~= '0' then
    v = v .. KS .. ms(back) .. ':' .. k
  elseif back ~= 0 then
    v = v .. KS .. ms(back)
  end
  return v
end

local function slot_key(p, tick, k)
  return p .. ':w:' .. ms(tick) .. ':' .. k
end

-- Adds a membership's entry to the wheel at deadline d; returns its slot's
-- second and index. Within a call, it remembers the slot it filled last for
-- each second, and how full it is, so that a heartbeat joining many
-- channels asks Redis once per second, not once per channel.
local function wheel_add(p, entry, d)
  local tick = math.floor(d / TICK)
  local second = ms(tick)
  local open = open_slots[p .. second]
  if open == nil then
    local n = redis.call('ZCARD', slot_key(p, tick, '0'))
    local k = 0
    if n >= SLOT_MAX then
      k = tonumber(redis.call('HGET', p .. ':wf', second) or 1)
      n = redis.call('ZCARD', slot_key(p, tick, k))
    end
    open = {k = k, n = n, min = nil}
    open_slots[p .. second] = open
  end
  while open.n >= SLOT_MAX do
    open.k = open.k + 1
    open.n = redis.call('ZCARD', slot_key(p, tick, open.k))
    open.min = nil
    redis.call('HSET', p .. ':wf', second, open.k)
  end
  local k = ms(open.k)
  redis.call('ZADD', slot_key(p, tick, k), ms(d), entry)
  open.n = open.n + 1
  if open.min == nil or d < open.min then
    redis.call('ZADD', p .. ':t', 'LT', ms(d), 'w' .. second .. ':' .. k)
    open.min = d
  end
  return tick, k
end

-- Keeps a membership's entry no later than its deadline when the deadline
-- went from `old` to `new`; returns the entry's second and index.
local function wheel_keep(p, entry, old, new, tick, k)
  if new >= old then return tick, k end
  redis.call('ZREM', slot_key(p, tick, k), entry)
  return wheel_add(p, entry, new)
end

-- The user index (WhereNow): HASH <shard>:u:<bucket>, field user, the
-- user's channels in the shard joined by \1. Users are spread over
-- USER_BUCKETS hashes per shard so that each stays in Redis's compact
-- (listpack) encoding up to about half a million users per shard.
local USER_BUCKETS = 1024

local function user_bucket(user)
  local h = 0
  for i = 1, #user do h = (h * 31 + string.byte(user, i)) % 2147483629 end
  return ':u:' .. (h % USER_BUCKETS)
end

local function index_channels(p, user, bucket)
  local out = {}
  local v = redis.call('HGET', p .. bucket, user)
  if v then
    for ch in string.gmatch(v, '[^' .. SEP .. ']+') do out[#out + 1] = ch end
  end
  return out
end

local function index_add(p, user, channels)
  local key = p .. user_bucket(user)
  local v = redis.call('HGET', key, user)
  local added = table.concat(channels, SEP)
  redis.call('HSET', key, user, v and (v .. SEP .. added) or added)
end

-- Removes the channels of set `gone` from the user's index.
local function index_remove(p, user, gone)
  local key = p .. user_bucket(user)
  local v = redis.call('HGET', key, user)
  if not v then return end
  local kept = {}
  for ch in string.gmatch(v, '[^' .. SEP .. ']+') do
    if not gone[ch] then kept[#kept + 1] = ch end
  end
  if #kept == 0 then
    redis.call('HDEL', key, user)
  else
    redis.call('HSET', key, user, table.concat(kept, SEP))
  end
end

-- Counts of the shard's memberships (m) and sessions (s), for Stats:
-- changes add up during a call and are written once at its end.
local function count(p, memberships, sessions)
  local tally = tallies[p]
  if tally == nil then
    tally = {0, 0}
    tallies[p] = tally
  end
  tally[1] = tally[1] + memberships
  tally[2] = tally[2] + sessions
end

local function write_counts()
  for p, tally in pairs(tallies) do
    if tally[1] ~= 0 then redis.call('HINCRBY', p .. ':n', 'm', tally[1]) end
    if tally[2] ~= 0 then redis.call('HINCRBY', p .. ':n', 's', tally[2]) end
  end
end

-- Epochs, the high 32 bits of sequences. A channel that becomes active gets
-- max(the current Unix second, its previous epoch + 1): its epochs increase,
-- and they do not repeat when a store restarts (or Redis loses its data)
-- unless that is quicker than how far they ran ahead of the clock. After a
-- channel goes inactive its epoch is remembered as timer "e<channel>" (at
-- (epoch + 1) s) until expire_shard finds it below the current second; epf
-- is a second above every epoch pruned, so that a caller whose clock reads
-- earlier than the pruner's cannot reuse one either.
local function new_epoch(p, ch)
  local epoch = NOW_S
  local floor = tonumber(redis.call('GET', p .. ':epf') or 0)
  if floor > epoch then epoch = floor end
  local past = redis.call('ZSCORE', p .. ':t', 'e' .. ch)
  if past then
    past = math.floor(tonumber(past) / 1000)  -- The previous epoch + 1.
    if past > epoch then epoch = past end
    redis.call('ZREM', p .. ':t', 'e' .. ch)
  end
  return epoch
end

-- Appends an event to the shard's stream. `extra` holds more fields.
local function emit(p, ch, kind, user, occupancy, state, extra)
  local n = redis.call('HINCRBY', p .. ':seq', ch, 1)
  local epoch = redis.call('HGET', p .. ':ep', ch)
  local args = {p .. ':events', 'MAXLEN', '~', MAXLEN, '*',
                't', kind, 'c', ch, 'o', occupancy, 'ms', ARGV[3],
                'q', epoch .. ':' .. n}
  if user ~= '' then args[#args + 1] = 'u'; args[#args + 1] = user end
  if state ~= '' then args[#args + 1] = 's'; args[#args + 1] = state end
  if extra then
    for k, v in pairs(extra) do args[#args + 1] = k; args[#args + 1] = v end
  end
  redis.call('XADD', unpack(args))
end

-- Interval mode: pending joins, leaves and timeouts of a channel above
-- announce_max, in lists ivj:<channel>, ivl:<channel> and ivx:<channel>,
-- with their size in bytes in hash ivb (above the cap the lists are
-- dropped and the interval event says "re-read"); the channel's next
-- interval event is timer "i<channel>".
local function accumulate(p, ch, kind, user)
  local base = p .. ':iv'
  local cost = #user + 3
  local bytes = redis.call('HINCRBY', base .. 'b', ch, cost)
  if bytes > LISTS_MAX then
    if bytes - cost <= LISTS_MAX then
      redis.call('DEL', base .. 'j:' .. ch, base .. 'l:' .. ch, base .. 'x:' .. ch)
    end
    return
  end
  local key = base .. (kind == 'join' and 'j:' or (kind == 'leave' and 'l:' or 'x:')) .. ch
  redis.call('RPUSH', key, user)
end

local function flush_interval(p, ch, occupancy)
  local base = p .. ':iv'
  local extra = {}
  local bytes = tonumber(redis.call('HGET', base .. 'b', ch) or 0)
  if bytes > LISTS_MAX then
    extra.r = '1'
  elseif bytes > 0 then
    extra.j = table.concat(redis.call('LRANGE', base .. 'j:' .. ch, 0, -1), SEP)
    extra.l = table.concat(redis.call('LRANGE', base .. 'l:' .. ch, 0, -1), SEP)
    extra.x = table.concat(redis.call('LRANGE', base .. 'x:' .. ch, 0, -1), SEP)
    redis.call('DEL', base .. 'j:' .. ch, base .. 'l:' .. ch, base .. 'x:' .. ch)
  else
    extra.j, extra.l, extra.x = '', '', ''
  end
  if bytes > 0 then redis.call('HDEL', base .. 'b', ch) end
  emit(p, ch, 'interval', '', occupancy, '', extra)
end

-- Emits what a join, leave or timeout means for consumers: active before a
-- channel's first join, per-user events up to announce_max and interval
-- accumulation above it, inactive after its last leave. `deadline` (ms) is
-- a timeout's.
local function membership_event(p, ch, kind, user, before, after, state, deadline)
  local timers = p .. ':t'
  if before == 0 then
    redis.call('HSET', p .. ':ep', ch, ms(new_epoch(p, ch)))
    redis.call('HSET', p .. ':seq', ch, 0)
    emit(p, ch, 'active', '', after, '')
  end
  local in_interval = redis.call('ZSCORE', timers, 'i' .. ch)
  if after > ANNOUNCE_MAX then
    if not in_interval then redis.call('ZADD', timers, ms(NOW + INTERVAL), 'i' .. ch) end
    accumulate(p, ch, kind, user)
  else
    if in_interval then
      flush_interval(p, ch, before)
      redis.call('ZREM', timers, 'i' .. ch)
    end
    emit(p, ch, kind, user, after, state, deadline and {d = ms(deadline)} or nil)
  end
  if after == 0 then
    emit(p, ch, 'inactive', '', 0, '')
    local epoch = tonumber(redis.call('HGET', p .. ':ep', ch))
    redis.call('ZADD', timers, ms((epoch + 1) * 1000), 'e' .. ch)
    redis.call('HDEL', p .. ':ep', ch)
    redis.call('HDEL', p .. ':seq', ch)
  end
end

-- Removes a membership that had `sessions` sessions, except for its wheel
-- entry and its place in the user index (the caller's, who may batch them).
local function remove_membership(p, ch, user, kind, sessions, deadline)
  local mk = p .. ':m:' .. ch
  local before = redis.call('ZCARD', mk)
  redis.call('ZREM', mk, user)
  redis.call('HDEL', p .. ':d:' .. ch, user)
  redis.call('HDEL', p .. ':st:' .. ch, user)
  count(p, -1, -sessions)
  membership_event(p, ch, kind, user, before, before - 1, '', deadline)
end

local function by_deadline_channel_user(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end

-- Does what is due in a shard: forgets epochs that are past, times out the
-- memberships whose deadline passed (in deadline, channel, user order) and
-- emits the interval events due. Everything timed lives in one ZSET of
-- timers (<shard>:t), so a shard with nothing due costs one look.
local function expire_shard(p)
  local timers = p .. ':t'
  local first = redis.call('ZRANGE', timers, 0, 0, 'WITHSCORES')
  if #first == 0 or tonumber(first[2]) > NOW then return end
  local due = redis.call('ZRANGEBYSCORE', timers, '-inf', ms(NOW))
  local pruned, slots, intervals = false, {}, {}
  for _, timer in ipairs(due) do
    local kind = string.sub(timer, 1, 1)
    if kind == 'e' then
      redis.call('ZREM', timers, timer)
      pruned = true
    elseif kind == 'w' then
      slots[#slots + 1] = string.sub(timer, 2)
    else
      intervals[#intervals + 1] = timer
    end
  end
  if pruned then
    local floor = tonumber(redis.call('GET', p .. ':epf') or 0)
    if NOW_S > floor then redis.call('SET', p .. ':epf', NOW_S) end
  end
  if #slots > 0 then
    local due_memberships = {}
    for _, slot in ipairs(slots) do
      local key = p .. ':w:' .. slot
      local entries = redis.call('ZRANGEBYSCORE', key, '-inf', ms(NOW))
      redis.call('ZREMRANGEBYSCORE', key, '-inf', ms(NOW))
      for _, entry in ipairs(entries) do
        local at = string.find(entry, SEP, 1, true)
        local ch, user = string.sub(entry, 1, at - 1), string.sub(entry, at + 1)
        local dk = p .. ':d:' .. ch
        local v = redis.call('HGET', dk, user)
        if v then
          local sessions, tick, k = parse_membership(v)
          -- Only the membership's own entry counts (a stray one, never
          -- expected, is just dropped).
          if ms(tick) .. ':' .. k == slot then
            local d = latest(sessions)
            if d <= NOW then
              due_memberships[#due_memberships + 1] = {d, ch, user, #sessions}
            else
              -- Extended since it was filed: file it at its deadline.
              tick, k = wheel_add(p, entry, d)
              redis.call('HSET', dk, user, encode_membership(sessions, tick, k))
            end
          end
        end
      end
    end
    table.sort(due_memberships, by_deadline_channel_user)
    local users, gone = {}, {}
    for _, m in ipairs(due_memberships) do
      remove_membership(p, m[2], m[3], 'timeout', m[4], m[1])
      if not gone[m[3]] then
        gone[m[3]] = {}
        users[#users + 1] = m[3]
      end
      gone[m[3]][m[2]] = true
    end
    for _, user in ipairs(users) do index_remove(p, user, gone[user]) end
    for _, slot in ipairs(slots) do
      local head = redis.call('ZRANGE', p .. ':w:' .. slot, 0, 0, 'WITHSCORES')
      if #head > 0 then
        redis.call('ZADD', timers, head[2], 'w' .. slot)
      else
        redis.call('ZREM', timers, 'w' .. slot)
        local tick = string.sub(slot, 1, string.find(slot, ':', 1, true) - 1)
        if (tonumber(tick) + 1) * TICK <= NOW then redis.call('HDEL', p .. ':wf', tick) end
      end
    end
    -- Slots may have emptied (and their timers gone): ask again.
    open_slots = {}
  end
  for _, timer in ipairs(intervals) do
    -- Still due: a timeout above may have ended the channel's interval mode.
    local at = redis.call('ZSCORE', timers, timer)
    if at and tonumber(at) <= NOW then
      local ch = string.sub(timer, 2)
      flush_interval(p, ch, redis.call('ZCARD', p .. ':m:' .. ch))
      local next_at = tonumber(at) + INTERVAL
      if next_at <= NOW then next_at = NOW + INTERVAL end
      redis.call('ZADD', timers, ms(next_at), timer)
    end
  end
end

local function expire_all()
  for s = 0, NSHARDS - 1 do expire_shard(P(s)) end
end

-- Groups `channels` by shard, expiring each shard first. Returns a list of
-- {prefix, channels of the shard in the given order}.
local function by_shard(channels)
  local index, out = {}, {}
  for _, ch in ipairs(channels) do
    local s = shard_of(ch)
    local group = index[s]
    if not group then
      group = {P(s), {}}
      index[s] = group
      out[#out + 1] = group
      expire_shard(group[1])
    end
    group[2][#group[2] + 1] = ch
  end
  return out
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
  if #groups == 0 then
    local set = {}
    for _, ch in ipairs(channels) do set[ch] = true end
    return set, channels
  end
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

-- How many entries were ever added to a stream (entries-added: the index of
-- its last entry, counting from 1) and how many it holds now.
local function stream_counts(key)
  if redis.call('EXISTS', key) == 0 then return 0, 0 end
  local info = redis.call('XINFO', 'STREAM', key)
  local added, length = 0, 0
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then added = info[i + 1] end
    if info[i] == 'length' then length = info[i + 1] end
  end
  return added, length
end

local function stream_key(index)
  return index < NSHARDS and P(index) .. ':events' or GP() .. ':events'
end

local function register(name, body)
  redis.register_function(name .. '_' .. VERSION, function(_, args)
    setup(args)
    local reply = body()
    write_counts()
    return reply
  end)
end

-- The per-user limits (max_sessions_per_user, max_channels_per_user; 0 is
-- off) of a heartbeat of `user`'s `session` on `list`: an error reply
-- (USERLIMIT sessions|channels <count>) when it must be refused, checked
-- before anything changes. Live means a deadline after NOW, across every
-- shard (the user index finds the user's channels).
local function user_limit_error(user, session, list, max_sessions, max_channels)
  local on, sessions, nchannels, nsessions = {}, {}, 0, 0
  local bucket = user_bucket(user)
  for s = 0, NSHARDS - 1 do
    local p = P(s)
    for _, ch in ipairs(index_channels(p, user, bucket)) do
      local v = redis.call('HGET', p .. ':d:' .. ch, user)
      if v then
        local live = false
        for _, x in ipairs((parse_membership(v))) do
          if x[2] > NOW then
            live = true
            if not sessions[x[1]] then
              sessions[x[1]] = true
              nsessions = nsessions + 1
            end
          end
        end
        if live and not on[ch] then
          on[ch] = true
          nchannels = nchannels + 1
        end
      end
    end
  end
  if max_sessions > 0 and not sessions[session] and nsessions >= max_sessions then
    return redis.error_reply('USERLIMIT sessions ' .. nsessions)
  end
  if max_channels > 0 then
    local after = nchannels
    for _, ch in ipairs(list) do
      if not on[ch] then after = after + 1 end
    end
    if after > max_channels and after > nchannels then
      return redis.error_reply('USERLIMIT channels ' .. after)
    end
  end
  return nil
end

-- ARGV: user, session, deadline (ms, rounded up from the caller's clock so
-- it is never early), channels, groups, states (count, then key/state
-- pairs: a key is a channel or group of the request), max sessions per
-- user, max channels per user (0: off).
register('heartbeat', function()
  local user, session, deadline = ARGV[8], ARGV[9], tonumber(ARGV[10])
  local channels, i = read_list(11)
  local groups
  groups, i = read_list(i)
  local pairs_list
  pairs_list, i = read_list(i)
  local max_sessions, max_channels = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local _, list, missing = targets(channels, groups)
  if missing then return not_found(missing) end
  if max_sessions > 0 or max_channels > 0 then
    local refused = user_limit_error(user, session, list, max_sessions, max_channels)
    if refused then return refused end
  end
  -- A channel's own key wins over its groups' keys; groups in request order.
  local state_of = {}
  if #pairs_list > 0 then
    local is_channel, state_by_key = {}, {}
    for _, ch in ipairs(channels) do is_channel[ch] = true end
    for k = 1, #pairs_list, 2 do state_by_key[pairs_list[k]] = pairs_list[k + 1] end
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
  end
  for _, shard in ipairs(by_shard(list)) do
    local p = shard[1]
    local joined = {}
    for _, ch in ipairs(shard[2]) do
      local state = state_of[ch]
      local dk = p .. ':d:' .. ch
      local entry = ch .. SEP .. user
      local v = redis.call('HGET', dk, user)
      if not v then
        local mk = p .. ':m:' .. ch
        local before = redis.call('ZCARD', mk)
        redis.call('ZADD', mk, 0, user)
        local tick, k = wheel_add(p, entry, deadline)
        redis.call('HSET', dk, user, encode_membership({{session, deadline}}, tick, k))
        joined[#joined + 1] = ch
        count(p, 1, 1)
        if state and state ~= '' then redis.call('HSET', p .. ':st:' .. ch, user, state) end
        membership_event(p, ch, 'join', user, before, before + 1, state or '')
      else
        local current, tick, k = parse_membership(v)
        local kept, found = {}, false
        for _, s in ipairs(current) do
          if s[1] == session then
            kept[#kept + 1] = {session, deadline}
            found = true
          elseif s[2] > NOW then
            kept[#kept + 1] = s
          end
        end
        if not found then kept[#kept + 1] = {session, deadline} end
        tick, k = wheel_keep(p, entry, latest(current), latest(kept), tick, k)
        redis.call('HSET', dk, user, encode_membership(kept, tick, k))
        count(p, 0, #kept - #current)
        if state then set_state(p, ch, user, state) end
      end
    end
    if #joined > 0 then index_add(p, user, joined) end
  end
  return 'OK'
end)

-- ARGV: user, session, channels, groups. Returns the channels left.
register('leave', function()
  local user, session = ARGV[8], ARGV[9]
  local channels, i = read_list(10)
  local groups = read_list(i)
  local _, list, missing = targets(channels, groups)
  if missing then return not_found(missing) end
  local left = {}
  for _, shard in ipairs(by_shard(list)) do
    local p = shard[1]
    local gone
    for _, ch in ipairs(shard[2]) do
      local dk = p .. ':d:' .. ch
      local v = redis.call('HGET', dk, user)
      if v then
        local sessions, tick, k = parse_membership(v)
        local kept = {}
        if #sessions == 1 then
          if sessions[1][1] ~= session then kept = sessions end
        else
          for _, s in ipairs(sessions) do
            if s[1] ~= session and s[2] > NOW then kept[#kept + 1] = s end
          end
        end
        local entry = ch .. SEP .. user
        if #kept == 0 then
          redis.call('ZREM', slot_key(p, tick, k), entry)
          remove_membership(p, ch, user, 'leave', #sessions)
          left[#left + 1] = ch
          gone = gone or {}
          gone[ch] = true
        elseif #kept ~= #sessions then
          tick, k = wheel_keep(p, entry, latest(sessions), latest(kept), tick, k)
          redis.call('HSET', dk, user, encode_membership(kept, tick, k))
          count(p, 0, #kept - #sessions)
        end
      end
    end
    if gone then index_remove(p, user, gone) end
  end
  return left
end)

-- ARGV: user, state ("" clears), channels, groups. Returns the channels set,
-- or ABSENT with the explicit channels where the user is not present.
register('set_state', function()
  local user, state = ARGV[8], ARGV[9]
  local channels, i = read_list(10)
  local groups = read_list(i)
  local _, list, missing = targets(channels, groups)
  if missing then return not_found(missing) end
  by_shard(list)
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
end)

-- ARGV: user, channels, groups. Returns channel, state pairs where present.
register('get_state', function()
  local user = ARGV[8]
  local channels, i = read_list(9)
  local groups = read_list(i)
  local _, list, missing = targets(channels, groups)
  if missing then return not_found(missing) end
  by_shard(list)
  local out = {}
  for _, ch in ipairs(list) do
    local p = P(shard_of(ch))
    if present(p, ch, user) then
      out[#out + 1] = ch
      out[#out + 1] = redis.call('HGET', p .. ':st:' .. ch, user) or ''
    end
  end
  return out
end)

-- ARGV: include_user_ids (0/1), include_state (0/1), limit, offset,
-- channels, groups; no channels and no groups means every occupied channel.
-- Returns per channel: name, occupancy, user ids, states (the ids' states
-- when include_state, else empty). A page costs the page: ZCARD, and ZRANGE
-- by rank (O(log n + page)) on the channel's members, which all score 0 so
-- that ranks follow user ids.
register('here_now', function()
  local include_ids, include_state = ARGV[8] == '1', ARGV[9] == '1'
  local limit, offset = tonumber(ARGV[10]), tonumber(ARGV[11])
  local channels, i = read_list(12)
  local groups = read_list(i)
  local named, list = {}, {}
  if #channels == 0 and #groups == 0 then
    expire_all()
    for s = 0, NSHARDS - 1 do
      for _, ch in ipairs(redis.call('HKEYS', P(s) .. ':ep')) do
        list[#list + 1] = ch
      end
    end
  else
    local expanded, missing = select(2, targets(channels, groups))
    if missing then return not_found(missing) end
    list = expanded
    for _, ch in ipairs(channels) do named[ch] = true end
    by_shard(list)
  end
  local out = {}
  for _, ch in ipairs(list) do
    local p = P(shard_of(ch))
    local mk = p .. ':m:' .. ch
    local occupancy = redis.call('ZCARD', mk)
    if occupancy > 0 or named[ch] then
      local ids, states = {}, {}
      if include_ids and occupancy > offset then
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
end)

-- ARGV: user. Returns the user's channels (unsorted).
register('where_now', function()
  local user = ARGV[8]
  local bucket = user_bucket(user)
  local out = {}
  for s = 0, NSHARDS - 1 do
    local p = P(s)
    expire_shard(p)
    for _, ch in ipairs(index_channels(p, user, bucket)) do out[#out + 1] = ch end
  end
  return out
end)

-- Times out everything due and emits due interval events in every shard.
register('expire', function()
  expire_all()
  return 'OK'
end)

-- Returns the occupied channels, memberships and sessions of all shards.
register('stats', function()
  local channels, memberships, sessions = 0, 0, 0
  for s = 0, NSHARDS - 1 do
    local p = P(s)
    channels = channels + redis.call('HLEN', p .. ':ep')
    local n = redis.call('HMGET', p .. ':n', 'm', 's')
    memberships = memberships + (tonumber(n[1]) or 0)
    sessions = sessions + (tonumber(n[2]) or 0)
  end
  return {channels, memberships, sessions}
end)

-- ARGV: group, max channels per group, channels.
register('group_add', function()
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
end)

-- ARGV: group, channels.
register('group_remove', function()
  local group = ARGV[8]
  local channels = read_list(9)
  local key = GP() .. ':g:' .. group
  if redis.call('EXISTS', key) == 0 then return not_found(group) end
  redis.call('SREM', key, unpack(channels))
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', GP() .. ':groups', group) end
  group_changed(group)
  return 'OK'
end)

-- ARGV: group.
register('group_delete', function()
  local group = ARGV[8]
  local key = GP() .. ':g:' .. group
  if redis.call('EXISTS', key) == 0 then return not_found(group) end
  redis.call('DEL', key)
  redis.call('SREM', GP() .. ':groups', group)
  group_changed(group)
  return 'OK'
end)

-- ARGV: group. Returns its channels (unsorted).
register('group_list', function()
  local key = GP() .. ':g:' .. ARGV[8]
  if redis.call('EXISTS', key) == 0 then return not_found(ARGV[8]) end
  return redis.call('SMEMBERS', key)
end)

-- Returns the last id of every stream: shards in order, then groups.
register('positions', function()
  return positions()
end)

-- Returns the positions, then how many entries each stream ever had (in
-- the same order; see stream_counts), then group, channels pairs: where an
-- event reader starts.
register('group_snapshot', function()
  local out = positions()
  for s = 0, NSHARDS do
    local added = stream_counts(stream_key(s))
    out[#out + 1] = added
  end
  for _, g in ipairs(redis.call('SMEMBERS', GP() .. ':groups')) do
    out[#out + 1] = g
    out[#out + 1] = table.concat(redis.call('SMEMBERS', GP() .. ':g:' .. g), SEP)
  end
  return out
end)

-- ARGV: owner, lease_ms. Takes or renews the exclusive-delivery lease;
-- returns 1 if `owner` holds it now, else 0. The lease is "owner\1expiry":
-- its expiry is in ms of the holder's clock, compared with the caller's
-- (like session deadlines), so it follows the replicas' injected clocks.
register('lease', function()
  local key = GP() .. ':lease'
  local owner, lease_ms = ARGV[8], tonumber(ARGV[9])
  local holder, expiry = lease_holder()
  if holder == owner or holder == nil or expiry <= NOW then
    redis.call('SET', key, owner .. SEP .. ms(NOW + lease_ms))
    return 1
  end
  return 0
end)

-- ARGV: owner, then stream index, id pairs. Records how far the lease
-- holder has delivered; returns 0 (and records nothing) if it lost the lease.
register('checkpoint', function()
  local holder, expiry = lease_holder()
  if holder ~= ARGV[8] or expiry <= NOW then return 0 end
  for k = 9, #ARGV, 2 do
    redis.call('HSET', GP() .. ':cursor', ARGV[k], ARGV[k + 1])
  end
  return 1
end)

-- Returns the delivery cursor: stream index, id pairs (may be empty).
register('cursor', function()
  return redis.call('HGETALL', GP() .. ':cursor')
end)

-- ARGV: stream index, n pairs (shards in order, then groups): a reader has
-- read each stream through its n-th entry ever added. Returns the indexes
-- of the streams whose oldest entry now comes after the (n+1)-th: trimming
-- (MAXLEN, which removes the oldest entries first) cut entries the reader
-- had not read; it fell behind by more than the capped length.
register('gaps', function()
  local out = {}
  for k = 8, #ARGV, 2 do
    local index = tonumber(ARGV[k])
    local added, length = stream_counts(stream_key(index))
    if length > 0 and added - length + 1 > tonumber(ARGV[k + 1]) + 1 then
      out[#out + 1] = index
    end
  end
  return out
end)
