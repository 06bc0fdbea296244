// Redis Lua scripts: algorithms.ts, line for line, run atomically inside Redis. One call touches exactly one key (a
// hash holding every dimension of one limited subject), so the scripts are safe on Redis Cluster. Time comes from
// the Redis server (TIME), so router replicas with skewed clocks still agree. Scripts replicate by effects (Redis 5+
// default), which TIME requires.
//
// KEYS[1] = subject hash; ARGV = algorithm ('token-bucket' | 'sliding-window'), dimension count, then per dimension:
// field name, limit, window ms, cost (ACQUIRE) or delta (ADJUST).
// ACQUIRE returns {ok, then per dimension: remaining, resetMs, retryAfterMs}; all-or-nothing across dimensions.
// PEEK answers the same and writes nothing.

const COMMON = `
local algo = ARGV[1]
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]

local function load(f, limit, window)
  local v = redis.call('HMGET', key, f .. ':a', f .. ':b', f .. ':c')
  if v[1] == false then
    if algo == 'token-bucket' then return {limit, now, 0} end
    return {math.floor(now / window), 0, 0}
  end
  return {tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}
end

local function save(f, s)
  redis.call('HSET', key, f .. ':a', tostring(s[1]), f .. ':b', tostring(s[2]), f .. ':c', tostring(s[3]))
end

local function refill(s, limit, rate)
  if now > s[2] then
    s[1] = math.min(limit, s[1] + (now - s[2]) * rate)
    s[2] = now
  end
end

local function roll(s, window)
  local idx = math.floor(now / window)
  if idx == s[1] then return end
  if idx == s[1] + 1 then s[3] = s[2] else s[3] = 0 end
  s[2] = 0
  s[1] = idx
end

local function ttl(s, limit, window)
  if algo == 'token-bucket' then
    return math.ceil(math.max(window, (limit - s[1]) / (limit / window))) + 1000
  end
  return 2 * window + 1000
end
`;

const CHECK = `
local states, out, expire, ok = {}, {}, 0, 1
for i = 1, n do
  local base = 2 + (i - 1) * 4
  local f, limit, window, cost = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local s = load(f, limit, window)
  local remaining, reset, retry
  if algo == 'token-bucket' then
    local rate = limit / window
    refill(s, limit, rate)
    local fits = s[1] >= cost
    if not fits then ok = 0 end
    local left = s[1]
    if fits then left = left - cost end
    remaining = math.max(0, math.floor(left))
    reset = math.ceil((limit - left) / rate)
    retry = 0
    if not fits then retry = math.ceil((cost - s[1]) / rate) end
  else
    roll(s, window)
    local start = s[1] * window
    local used = s[3] * (1 - (now - start) / window) + s[2]
    local fits = used + cost <= limit
    if not fits then ok = 0 end
    local after = used
    if fits then after = used + cost end
    remaining = math.max(0, math.floor(limit - after))
    local cur = s[2]
    if fits then cur = cur + cost end
    if cur > 0 then reset = start + 2 * window - now elseif s[3] > 0 then reset = start + window - now else reset = 0 end
    reset = math.ceil(reset)
    retry = 0
    if not fits then
      local room = limit - cost - s[2]
      if room >= 0 and s[3] > 0 then
        retry = start + (1 - room / s[3]) * window - now
      else
        local frac = 0
        if s[2] > 0 then frac = math.max(0, 1 - (limit - cost) / s[2]) end
        retry = start + window + frac * window - now
      end
      retry = math.ceil(math.max(0, retry))
    end
  end
  states[i] = {f, s, cost, limit, window}
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end
`;

export const ACQUIRE_SCRIPT = `${COMMON}${CHECK}
for i = 1, n do
  local f, s, cost, limit, window = states[i][1], states[i][2], states[i][3], states[i][4], states[i][5]
  if ok == 1 then
    if algo == 'token-bucket' then s[1] = s[1] - cost else s[2] = s[2] + cost end
  end
  save(f, s)
  expire = math.max(expire, ttl(s, limit, window))
end
redis.call('PEXPIRE', key, expire)
table.insert(out, 1, ok)
return out
`;

export const PEEK_SCRIPT = `${COMMON}${CHECK}
table.insert(out, 1, ok)
return out
`;

export const ADJUST_SCRIPT = `${COMMON}
local expire = 0
for i = 1, n do
  local base = 2 + (i - 1) * 4
  local f, limit, window, delta = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local s = load(f, limit, window)
  if algo == 'token-bucket' then
    refill(s, limit, limit / window)
    s[1] = math.min(limit, s[1] + delta)
  else
    roll(s, window)
    s[2] = math.max(0, s[2] - delta)
  end
  save(f, s)
  expire = math.max(expire, ttl(s, limit, window))
end
redis.call('PEXPIRE', key, expire)
return 1
`;
