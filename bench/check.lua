-- check.lua -- the Redis 7 + Lua peer of quotad's check-and-debit
-- (docs/protocol.md, server/quota.c), for the benchmark of issue 4.
--
-- Same checks, same order, first failure is the answer, all or nothing:
--   1 invalid (no such key)   2 revoked   3 disabled   4 expired
--   5 admin key   6 IP allowlist   7 model allowlist
--   8 rate (RPM / TPM in the current UTC minute)
--   9 quota   10 daily spend cap   11 wallet (balance + overdraft)
-- then every counter moves at once: rate window, quota, day spend, key and
-- workspace usage, wallet balance; a hold also records the reservation.
--
-- Differences from quotad, all in Redis's favour:
--   * the client sends the SHA-256 of the secret as the key name; quotad
--     parses the secret, checks its checksum and hashes it (BLAKE2b).
--   * allowlists are exact-match strings ",a,b,"; quotad also matches CIDRs.
--   * only the daily cap window is kept; quotad keeps day, week and month.
--   * no idempotency ids; a hold is dropped (not refunded) when it expires.
--
-- KEYS[1] "k:<sha256 hex>"  KEYS[2] "w:<workspace id>"
-- ARGV    model, client_ip, amount, amount_min, tokens, hold (0|1),
--         hold_timeout_ms (0 = default)
-- Reply   {decision} on a deny; {0, charged, quota_remaining,
--         wallet_balance, rpm_remaining, tpm_remaining, reset_ms, hold_id}
--         when allowed (-1 = unlimited, hold_id 0 for a debit).

local MS_PER_MIN = 60000
local MS_PER_DAY = 86400000
local HOLD_TIMEOUT_MS_DEFAULT = 300000
local NONE = -1

local function num(s)
  return tonumber(s) or 0
end


-- Exact membership in a ",a,b," list; an empty list allows everything.
local function listed(list, item)
  if list == '' then return true end
  if item == '' then return false end
  return string.find(list, ',' .. item .. ',', 1, true) ~= nil
end

local k = redis.call('HMGET', KEYS[1], 'st', 'kind', 'exp', 'qt', 'qr',
  'cd', 'rpm', 'tpm', 'mdl', 'ips', 'rmin', 'rreq', 'rtok', 'dday', 'dsp',
  'ureq', 'utok', 'usp')
if not k[1] then return {1} end

local t = redis.call('TIME')
local now = num(t[1]) * 1000 + math.floor(num(t[2]) / 1000)

local st = num(k[1])
if st == 3 then return {2} end
if st == 2 then return {3} end
local exp = num(k[3])
if exp > 0 and now >= exp then return {4} end
if k[2] == '1' then return {5} end
if not listed(k[10] or '', ARGV[2]) then return {6} end
if not listed(k[9] or '', ARGV[1]) then return {7} end

-- 8: fixed UTC-minute windows, rolled lazily
local minute = math.floor(now / MS_PER_MIN)
local rreq, rtok = num(k[12]), num(k[13])
if num(k[11]) ~= minute then rreq, rtok = 0, 0 end
local rpm, tpm = num(k[7]), num(k[8])
local tokens = num(ARGV[5])
local reset_ms = (minute + 1) * MS_PER_MIN - now
if (rpm ~= NONE and rreq + 1 > rpm) or (tpm ~= NONE and rtok + tokens > tpm)
then
  return {8}
end

-- 9..11: what is needed, and the most every limit allows (holds)
local hold = ARGV[6] == '1'
local amount = num(ARGV[3])
local need = amount
if hold then need = num(ARGV[4]) end
local room = amount
local qt, qr = num(k[4]), num(k[5])
if qt ~= NONE then
  if qr < need then return {9} end
  room = math.min(room, qr)
end
local day = math.floor(now / MS_PER_DAY)
local dsp = num(k[15])
if num(k[14]) ~= day then dsp = 0 end
local cd = num(k[6])
if cd ~= NONE then
  if cd - dsp < need then return {10} end
  room = math.min(room, cd - dsp)
end
local w = redis.call('HMGET', KEYS[2], 'bal', 'od', 'ureq', 'utok', 'usp')
if not w[1] then return {1} end
local bal = num(w[1])
if bal + num(w[2]) < need then return {11} end
room = math.min(room, bal + num(w[2]))

-- allowed: move every counter
if qt ~= NONE then qr = qr - room end
-- (Redis prints Lua numbers as exact integers below 1e17: no formatting)
redis.call('HSET', KEYS[1], 'rmin', minute, 'rreq', rreq + 1,
  'rtok', rtok + tokens, 'qr', qr, 'dday', day, 'dsp', dsp + room,
  'ureq', num(k[16]) + 1, 'utok', num(k[17]) + tokens,
  'usp', num(k[18]) + room)
bal = bal - room
redis.call('HSET', KEYS[2], 'bal', bal, 'ureq', num(w[3]) + 1,
  'utok', num(w[4]) + tokens, 'usp', num(w[5]) + room)

local hold_id = 0
if hold then
  hold_id = redis.call('INCR', 'hseq')
  local timeout = num(ARGV[7])
  if timeout == 0 then timeout = HOLD_TIMEOUT_MS_DEFAULT end
  local h = 'h:' .. hold_id
  redis.call('HSET', h, 'amt', room, 'tok', tokens, 'day', day)
  redis.call('PEXPIRE', h, timeout)
end

local rpm_left, tpm_left = NONE, NONE
if rpm ~= NONE then rpm_left = rpm - rreq - 1 end
if tpm ~= NONE then tpm_left = tpm - rtok - tokens end
if qt == NONE then qr = NONE end
return {0, room, qr, bal, rpm_left, tpm_left, reset_ms, hold_id}
