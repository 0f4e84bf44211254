-- GET /api/v1/feed as many people in turn.
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/feed.lua URL -- TOKENS_FILE
-- (or BENCH_TOKENS=TOKENS_FILE); BENCH_FEED_PATH overrides the path.
local threads = 0
local tokens = {}
local counter = 0
local path = os.getenv("BENCH_FEED_PATH") or "/api/v1/feed?limit=20"

function setup(thread)
  -- Runs in the main state: give each thread its own starting point.
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  local file = args[1] or os.getenv("BENCH_TOKENS")
  for line in io.lines(file) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  assert(#tokens > 0, "no tokens in " .. tostring(file))
  counter = (thread_index or 0) * 7919
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
