-- wrk script: the same Converse call as benches/e2e/run.sh (POST, JSON body, keep-alive).
wrk.method = "POST"
wrk.path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"messages":[{"role":"user","content":[{"text":"Say hello in one short sentence, please."}]}],"inferenceConfig":{"maxTokens":64}}'

-- Any non-2xx answer is an error of the run, not a fast response to count.
function response(status, headers, body)
  if status ~= 200 then
    wrk.thread:stop()
    io.stderr:write("unexpected status " .. status .. "\n")
  end
end
