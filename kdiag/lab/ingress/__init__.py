"""The lab's ingress controller (ingress-nginx style) and its two interchangeable data planes.

- `model`: the data-plane IR (servers, locations, upstreams, canaries, certificates) and
  nginx's matching; `controller`: Kubernetes objects → that IR (`build_ingress_config`)
- `nginx`: real nginx rendered from the IR (`render_nginx_conf`, `NginxIngress`)
- `emulated`: `EmulatedIngress`, a pure-Python nginx over the same IR, built from `downstream`
  (client requests, nginx's own answers), `upstream` (proxying to pods) and `pages` (error bodies)
"""
