"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""
