-- A proxied POST with a body of SIZE bytes (text/plain: no preflight in a browser).
-- The request is formatted once per thread.
--   wrk -s bench/lua/post.lua URL -- ORIGIN SIZE
local req

function init(args)
   local origin = args[1] or "https://app.example.com"
   local size = tonumber(args[2] or "1024")
   req = wrk.format("POST", nil, {
      ["Origin"] = origin,
      ["Content-Type"] = "text/plain",
   }, string.rep("x", size))
end

function request()
   return req
end
