"""Observability: traces (OpenTelemetry), metrics (Prometheus) and structured logs.

Each is set up once per process by the API or the worker from the settings; tracing is off
unless an OTLP endpoint is configured, and then costs nothing when off (no interceptor, no
callback, no instrumentation is installed).
"""
