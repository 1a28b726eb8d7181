"""The Lua scripts of the Redis bus. Each runs atomically in Redis, in one round trip.

Keys are built inside the scripts from the prefix (ARGV) because the set of target streams is
only known there; CoUp uses a single Redis, not Redis Cluster, so that is allowed.
"""

# Fan a message out to the inboxes of the nodes in a routing set, except the sender.
# KEYS[1] routing set; ARGV: prefix, sender node, payload, inbox MAXLEN.
PUBLISH_TO_SET = """
local nodes = redis.call('SMEMBERS', KEYS[1])
local sent = 0
for _, node in ipairs(nodes) do
  if node ~= ARGV[2] then
    redis.call('XADD', ARGV[1] .. 'node:' .. node .. ':inbox', 'MAXLEN', '~', ARGV[4], '*',
               'm', ARGV[3])
    sent = sent + 1
  end
end
return sent
"""

# Presence: one field per (user, node) holding that node's session count for the user.
# KEYS[1] study online hash, KEYS[2] study info hash; ARGV: user id, node id, delta, summary.
# Returns {count before on every node, count after on every node}.
PRESENCE_CHANGE = """
local field = ARGV[1] .. '|' .. ARGV[2]
local fields = redis.call('HGETALL', KEYS[1])
local before = 0
local prefix = ARGV[1] .. '|'
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #prefix) == prefix then before = before + tonumber(fields[i + 1]) end
end
local mine = redis.call('HINCRBY', KEYS[1], field, tonumber(ARGV[3]))
if mine <= 0 then redis.call('HDEL', KEYS[1], field) end
local after = before + tonumber(ARGV[3])
if after <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  after = 0
elseif ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
end
return {before, after}
"""

# Set this node's absolute session count for a user (resync after Redis comes back).
# KEYS[1] study online hash, KEYS[2] study info hash; ARGV: user id, node id, count, summary.
# Returns 1 when the user was not online in the study (the cluster had reported them offline,
# or Redis had lost them), else 0.
PRESENCE_SET = """
redis.call('HSET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], ARGV[3])
return redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
"""

# Join a call under the cap. KEYS[1] call hash; ARGV: session id, info json, cap.
CALL_JOIN = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and
   redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return redis.error_reply('CALL_FULL')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

# Sliding-window rate limit. KEYS[1] zset; ARGV: now ms, window ms, count, member.
# Returns 0 when the hit is recorded, else milliseconds to wait.
RATE_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

# Remove a dead node: its presence fields, routing entries and call participants.
# ARGV: prefix, dead node id. Returns a JSON string {offline: [[study, user]], calls:
# [[study, session, info]]} so the survivor can announce what changed; nothing if alive.
CLEANUP_NODE = """
local p, dead = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'node:' .. dead .. ':alive') == 1 then return '' end
local offline, calls = {}, {}
local studies = redis.call('SMEMBERS', p .. 'node:' .. dead .. ':studies')
for _, study in ipairs(studies) do
  redis.call('SREM', p .. 'study:' .. study .. ':nodes', dead)
  local online = p .. 'study:' .. study .. ':online'
  local fields = redis.call('HGETALL', online)
  local gone, others = {}, {}
  for i = 1, #fields, 2 do
    local sep = string.find(fields[i], '|', 1, true)
    local user, node = string.sub(fields[i], 1, sep - 1), string.sub(fields[i], sep + 1)
    if node == dead then
      redis.call('HDEL', online, fields[i])
      gone[user] = true
    else
      others[user] = true
    end
  end
  for user, _ in pairs(gone) do
    if not others[user] then
      redis.call('HDEL', p .. 'study:' .. study .. ':online_info', user)
      table.insert(offline, {study, user})
    end
  end
  local call = p .. 'study:' .. study .. ':call'
  local participants = redis.call('HGETALL', call)
  for i = 1, #participants, 2 do
    local info = cjson.decode(participants[i + 1])
    if info['node'] == dead then
      redis.call('HDEL', call, participants[i])
      table.insert(calls, {study, participants[i], participants[i + 1]})
    end
  end
end
local users = redis.call('SMEMBERS', p .. 'node:' .. dead .. ':users')
for _, user in ipairs(users) do
  redis.call('SREM', p .. 'user:' .. user .. ':nodes', dead)
  local conns = p .. 'user:' .. user .. ':conns'
  for _, member in ipairs(redis.call('ZRANGE', conns, 0, -1)) do
    if string.sub(member, 1, #dead + 1) == dead .. '|' then redis.call('ZREM', conns, member) end
  end
end
redis.call('DEL', p .. 'node:' .. dead .. ':studies', p .. 'node:' .. dead .. ':users',
           p .. 'node:' .. dead .. ':inbox')
redis.call('SREM', p .. 'nodes', dead)
return cjson.encode({offline = offline, calls = calls})
"""

# Count a connection; return the members beyond the limit, oldest first.
# KEYS[1] user connections zset; ARGV: member "{node}|{session}", now, limit.
CONNECTION_OPENED = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[1])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess <= 0 then return {} end
return redis.call('ZRANGE', KEYS[1], 0, excess - 1)
"""

# Delete a lock only if this node holds it. KEYS[1] lock; ARGV[1] node id.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
