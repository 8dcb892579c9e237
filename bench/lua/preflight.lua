-- CORS preflight: OPTIONS with Origin, Access-Control-Request-Method and
-- Access-Control-Request-Headers.  The request is formatted once per thread.
--   wrk -s bench/lua/preflight.lua URL -- ORIGIN METHOD "HEADER, NAMES"
local req

function init(args)
   local origin = args[1] or "https://app.example.com"
   local method = args[2] or "PUT"
   local names = args[3] or "content-type, authorization"
   req = wrk.format("OPTIONS", nil, {
      ["Origin"] = origin,
      ["Access-Control-Request-Method"] = method,
      ["Access-Control-Request-Headers"] = names,
   })
end

function request()
   return req
end
