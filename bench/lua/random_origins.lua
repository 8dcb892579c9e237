-- Every request from a new, never repeated Origin (a memory flood):
--   wrk -s bench/lua/random_origins.lua URL -- PREFIX
-- Origins are https://<PREFIX>-<thread>-<n>.flood.test; run again with another
-- PREFIX to keep them distinct across runs.
local prefix
local n = 0

function setup(thread)
   thread:set("id", (counter or 0))
   counter = (counter or 0) + 1
end

function init(args)
   prefix = (args[1] or "r") .. "-" .. tostring(id or 0) .. "-"
end

function request()
   n = n + 1
   return wrk.format("GET", nil, { ["Origin"] = "https://" .. prefix .. n .. ".flood.test" })
end
