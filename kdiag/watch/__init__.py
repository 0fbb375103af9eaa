"""`kdiag watch`: what a rollout (or anything else) does to live traffic, and why.

- `timeline`: the recorded events and figures (`WatchEvent`, `Recorder`);
- `traffic`: bounded requests and held WebSockets through the ingress hop;
- `observe`: read-only API watches of the route's pods, EndpointSlices and ReplicaSets;
- `attribute`: the pure judgement of a timeline (which pod, which container, which fix);
- `run`: the command (`watch_cluster`, `run_watch`).
"""
