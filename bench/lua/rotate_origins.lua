-- S5: GET requests whose Origin rotates over a list of origins (one a line).
-- Every request is formatted once per thread in init(); request() cycles.
-- Each thread starts at a different offset so threads do not move in step.
--   wrk -s bench/lua/rotate_origins.lua URL -- ORIGINS_FILE
local reqs = {}
local n = 0
local i = 0

function init(args)
   local file = assert(io.open(args[1], "r"), "cannot open origins file " .. tostring(args[1]))
   for line in file:lines() do
      if #line > 0 then
         n = n + 1
         reqs[n] = wrk.format("GET", nil, { ["Origin"] = line })
      end
   end
   file:close()
   assert(n > 0, "no origins in " .. args[1])
   i = (id or 0) * 7919 % n
end

function setup(thread)
   thread:set("id", (counter or 0))
   counter = (counter or 0) + 1
end

function request()
   i = i + 1
   if i > n then i = 1 end
   return reqs[i]
end
