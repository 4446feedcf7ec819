-- access forward-auth for HAProxy 2.5 and later (core.httpclient; Debian 12 ships 2.6 built with Lua).
-- For each request, asks the access broker whether the caller's bearer token may reach a resource,
-- and leaves the answer in transaction variables for haproxy.cfg to act on:
--   txn.access_status       200 allowed, 401 no or bad token, 403 refused, 503 broker unsure, 0 broker unreachable
--   txn.access_reason       the refusal's code (X-Access-Reason)
--   txn.access_challenge    the broker's WWW-Authenticate on 401
--   txn.x_access_user, txn.x_access_user_id, txn.x_access_name, txn.x_access_kind,
--   txn.x_access_groups, txn.x_access_grant, txn.x_access_expires   the identity, when allowed
-- Usage (see deploy/haproxy/haproxy.cfg):
--   global
--       lua-load /etc/haproxy/access-auth.lua
--   frontend …
--       http-request lua.access-auth https://access.example.com grafana

local IDENTITY = {
  "x-access-user", "x-access-user-id", "x-access-name", "x-access-kind",
  "x-access-groups", "x-access-grant", "x-access-expires",
}
-- How long one question to the broker may take (milliseconds) before the request is refused.
local BROKER_TIMEOUT_MS = 5000

-- HAProxy's header tables hold each header's values in an array that starts at 0.
local function first(headers, name)
  local values = headers and headers[name]
  if type(values) ~= "table" then return values end
  return values[0] or values[1]
end

local function ask(txn, broker, resource)
  local request = { url = broker .. "/v1/forward-auth?resource=" .. resource, headers = {}, timeout = BROKER_TIMEOUT_MS }
  local authorization = first(txn.http:req_get_headers(), "authorization")
  if authorization ~= nil then request.headers["authorization"] = { authorization } end
  local response = core.httpclient():get(request)
  local status = (response and response.status) or 0
  txn:set_var("txn.access_status", status)
  for _, name in ipairs(IDENTITY) do
    local value = status == 200 and first(response.headers, name) or ""
    txn:set_var("txn." .. (name:gsub("-", "_")), value or "")
  end
  txn:set_var("txn.access_reason", (response and first(response.headers, "x-access-reason")) or "broker_unreachable")
  txn:set_var("txn.access_challenge", (response and first(response.headers, "www-authenticate")) or "Bearer")
end

core.register_action("access-auth", { "http-req" }, ask, 2)
