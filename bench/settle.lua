-- settle.lua -- the Redis 7 + Lua peer of quotad's settle (docs/protocol.md):
-- charge the actual cost (at most the hold: settle_overrun_micro is 0 by
-- default), refund the rest to quota, day spend (if still the same day)
-- and wallet, count tokens above those counted at check time, drop the
-- hold. All or nothing.
--
-- KEYS[1] "h:<hold id>"  KEYS[2] "k:<sha256 hex>"  KEYS[3] "w:<ws id>"
-- ARGV    amount, tokens
-- Reply   {charged, refunded, quota_remaining, wallet_balance}, or an
--         error reply when the hold is unknown, settled or expired.

local MS_PER_MIN = 60000
local MS_PER_DAY = 86400000
local NONE = -1

local function num(s)
  return tonumber(s) or 0
end

local h = redis.call('HMGET', KEYS[1], 'amt', 'tok', 'day')
if not h[1] then
  return redis.error_reply('NOT_FOUND no open hold')
end
local held, held_tok = num(h[1]), num(h[2])
local amount, tokens = num(ARGV[1]), num(ARGV[2])
local charged = math.min(amount, held)
local refund = held - charged
local more = math.max(tokens - held_tok, 0)

local t = redis.call('TIME')
local now = num(t[1]) * 1000 + math.floor(num(t[2]) / 1000)

local k = redis.call('HMGET', KEYS[2], 'qt', 'qr', 'dday', 'dsp', 'rmin',
  'rtok', 'utok', 'usp')
local qr = NONE
if k[1] then
  local qt = num(k[1])
  local qr_new = num(k[2])
  if qt ~= NONE then
    qr_new = qr_new + refund
    qr = qr_new
  end
  local dsp = num(k[4])
  if num(k[3]) == math.floor(now / MS_PER_DAY) then dsp = dsp - refund end
  local minute = math.floor(now / MS_PER_MIN)
  local rtok = num(k[6])
  if num(k[5]) ~= minute then
    redis.call('HSET', KEYS[2], 'rmin', minute, 'rreq', '0')
    rtok = 0
  end
  redis.call('HSET', KEYS[2], 'qr', qr_new, 'dsp', dsp, 'rtok', rtok + more,
    'utok', num(k[7]) + more, 'usp', num(k[8]) - refund)
end

local w = redis.call('HMGET', KEYS[3], 'bal', 'utok', 'usp')
local bal = num(w[1]) + refund
redis.call('HSET', KEYS[3], 'bal', bal, 'utok', num(w[2]) + more,
  'usp', num(w[3]) - refund)
redis.call('DEL', KEYS[1])
return {charged, refund, qr, bal}
