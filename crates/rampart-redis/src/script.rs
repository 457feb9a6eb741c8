//! The Lua script that evaluates a whole batch of rate-limit ops atomically.
//!
//! It mirrors `rampart_ratelimit::gcra` exactly: same GCRA and fixed-window
//! arithmetic, same all-or-nothing rule (state is written only when every op
//! passed; an allowed op of a refused batch reports the key's current state), and
//! same outcome shape. Time is Redis's own `TIME`, so every gateway shares one
//! clock and clock skew between gateways cannot widen a GCRA limit. A quota
//! window is named by the gateway's clock (its calendar day or month), so a
//! gateway's skew moves that gateway's window boundary by the skew; its key is
//! kept an hour past the window's end (by Redis's clock), so a gateway up to an
//! hour behind still finds the window's count.
//!
//! Calling convention: `KEYS[i]` is op i's key; `ARGV[4i-3..4i]` are its kind
//! (`g` GCRA, `w` window), two parameters (GCRA: emission µs, burst; window: limit,
//! window end µs) and its cost. The reply is `4n` integers: allowed (0/1),
//! remaining, reset-after µs, retry-after µs, per op. Numbers are µs since the
//! epoch (about 1.8e15), exact in Lua's doubles (2^53 ≈ 9e15).

/// The script source.
pub const BATCH_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
-- One hour: far beyond any working clock sync, and cheap, since quota periods
-- are a day or longer (one extra key per consumer and quota, for an hour).
local WINDOW_SKEW_US = 3600000000
local pending = {}
local function stored(k)
  if pending[k] ~= nil then return pending[k] end
  return tonumber(redis.call('GET', k))
end
local function eval(kind, p1, p2, cost, state)
  if kind == 'g' then
    local em, burst = p1, p2
    local tol = em * burst
    local tat = now
    if state ~= nil and state > now then tat = state end
    local charged = cost
    if charged < 1 then charged = 1 end
    local new_tat = tat + em * charged
    local allow_at = new_tat - tol
    if allow_at > now then return 0, 0, tat - now, allow_at - now, nil end
    local remaining = math.floor((now + tol - new_tat) / em)
    if cost == 0 then
      local r = remaining + 1
      if r > burst then r = burst end
      return 1, r, tat - now, 0, nil
    end
    return 1, remaining, new_tat - now, 0, new_tat
  else
    local limit, wend = p1, p2
    local used = state or 0
    local reset = wend - now
    if reset < 0 then reset = 0 end
    local charged = cost
    if charged < 1 then charged = 1 end
    local after = used + charged
    if after > limit then
      local left = limit - used
      if left < 0 then left = 0 end
      return 0, left, reset, reset, nil
    end
    if cost == 0 then return 1, limit - used, reset, 0, nil end
    return 1, limit - after, reset, 0, after
  end
end
local out = {}
local writes = {}
local all = true
for i = 1, n do
  local k = KEYS[i]
  local kind = ARGV[4 * i - 3]
  local p1 = tonumber(ARGV[4 * i - 2])
  local p2 = tonumber(ARGV[4 * i - 1])
  local cost = tonumber(ARGV[4 * i])
  local a, r, reset, retry, nextv = eval(kind, p1, p2, cost, stored(k))
  if a == 0 then all = false end
  if nextv ~= nil then
    pending[k] = nextv
    local ttl
    if kind == 'g' then
      ttl = nextv - now
    else
      -- The window's end comes from the gateway's clock, which may be behind
      -- Redis's: that gateway still counts into this window after its end by
      -- Redis's clock. The key names its window (no later window reads it), so
      -- it is kept past the end by a skew allowance instead of expiring at
      -- once, which would reset the count for the rest of that gateway's
      -- window. Never <= 0 either: PX <= 0 is an error that aborts the script.
      ttl = math.max(p2 - now, 0) + WINDOW_SKEW_US
    end
    writes[#writes + 1] = { k, nextv, math.max(math.floor(ttl / 1000) + 1, 1) }
  end
  out[4 * i - 3] = a
  out[4 * i - 2] = r
  out[4 * i - 1] = reset
  out[4 * i] = retry
end
if all then
  for _, w in ipairs(writes) do
    redis.call('SET', w[1], string.format('%.0f', w[2]), 'PX', w[3])
  end
else
  -- Nothing is charged: allowed ops report their key's current state.
  for i = 1, n do
    if out[4 * i - 3] == 1 then
      local k = KEYS[i]
      local a, r, reset, retry = eval(ARGV[4 * i - 3], tonumber(ARGV[4 * i - 2]),
        tonumber(ARGV[4 * i - 1]), 0, tonumber(redis.call('GET', k)))
      out[4 * i - 2] = r
      out[4 * i - 1] = reset
    end
  end
end
return out
"#;

/// Gives back what a batch charged: when one slot's part of a batch was refused
/// after another slot's part was committed (Redis Cluster), and for
/// `CounterStore::refund` (a lock-out reservation given back). Same arguments as
/// [`BATCH_SCRIPT`]; a GCRA key's TAT moves back by `emission × cost` (charges are
/// additive, so other requests' charges stay), a window's count drops by `cost`:
/// `rampart_ratelimit::gcra::refund` in Lua.
pub const REFUND_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local k = KEYS[i]
  local kind = ARGV[4 * i - 3]
  local p1 = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i])
  local v = tonumber(redis.call('GET', k))
  if v ~= nil and cost > 0 then
    if kind == 'g' then
      local back = v - p1 * cost
      if back <= now then
        redis.call('DEL', k)
      else
        redis.call('SET', k, string.format('%.0f', back), 'PX', math.floor((back - now) / 1000) + 1)
      end
    elseif v - cost <= 0 then
      redis.call('DEL', k)
    else
      redis.call('DECRBY', k, cost)
    end
  end
end
return 0
"#;
