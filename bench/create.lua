-- POST /v1/tasks: one create per request.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTH")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"text_to_video","input":{"prompt":"a red fox runs through snow"}}'
wrk.path = "/v1/tasks"
