"""A second real data plane: HAProxy rendered the way the HAProxy Ingress controllers render Ingresses."""

from kdiag.lab.haproxy.render import DEFAULT_TIMEOUTS, FLAVORS, HAProxyConfig, render_haproxy
from kdiag.lab.haproxy.run import HAProxyIngress, haproxy_binary

__all__ = ["DEFAULT_TIMEOUTS", "FLAVORS", "HAProxyConfig", "HAProxyIngress", "haproxy_binary", "render_haproxy"]
