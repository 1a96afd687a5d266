-- POST a small JSON event to a webhook's trigger URL, for scripts/bench.sh's intake/s.
wrk.method = "POST"
wrk.body = '{"event":"push","ref":"refs/heads/main"}'
wrk.headers["Content-Type"] = "application/json"
