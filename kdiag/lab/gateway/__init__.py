"""The lab's Gateway API data plane, NGINX Gateway Fabric style, and its two interchangeable renderings.

- `controller`: Gateway API objects → the status NGF writes and the data-plane IR (`reconcile`,
  `with_status`); `model`: that IR (servers per hostname, locations, matches, weighted backends)
- `nginx`: real nginx rendered from the IR (`render_gateway_conf`, `NginxGateway`)
- `emulated`: `EmulatedGateway`, the pure-Python plane for `kdiag demo`, built on the emulated
  ingress's plumbing (`kdiag.lab.ingress.downstream`, `upstream`, `pages`)
"""
