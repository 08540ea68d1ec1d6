-- GET one path, with a bearer key from $AUTH.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTH")
wrk.path = os.getenv("PATH_ONE")
