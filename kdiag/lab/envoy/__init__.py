"""An emulation of Envoy's observable behaviour for the Envoy-based data planes (kdiag.lab.envoy.proxy),
configured from the lab's Ingresses/HTTPRoutes the way each controller programs Envoy (config)."""

from kdiag.lab.envoy.config import FLAVORS, EnvoyConfig, envoy_config
from kdiag.lab.envoy.proxy import EnvoyEmulation

__all__ = ["FLAVORS", "EnvoyConfig", "EnvoyEmulation", "envoy_config"]
