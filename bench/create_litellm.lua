-- POST one JSON body ($BODY) to one path ($PATH_ONE), with a bearer key from $AUTH.
-- Used for LiteLLM's POST /v1/videos (bench/litellm_peer.py gives the path and body).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTH")
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
wrk.path = os.getenv("PATH_ONE")
