-- POST /api/v1/posts as many people in turn (no Idempotency-Key: every request is a new post).
-- Usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/post.lua URL -- TOKENS_FILE
-- (or BENCH_TOKENS=TOKENS_FILE).
local threads = 0
local tokens = {}
local counter = 0
local prefix = ""

function setup(thread)
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
  prefix = "Load test post " .. tostring(thread_index or 0) .. "-"
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local body = '{"text": "' .. prefix .. counter .. ' from wrk", "visibility": "public", "media_ids": []}'
  return wrk.format("POST", "/api/v1/posts", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
