"""The gateway: middleware (request id, limits, CORS, security headers) and the ops routes."""

from minifb.gateway.client_ip import client_ip, get_client_ip
from minifb.gateway.middleware import install_gateway

__all__ = ["client_ip", "get_client_ip", "install_gateway"]
