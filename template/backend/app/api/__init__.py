"""HTTP layer: routers, endpoints and their dependencies."""
