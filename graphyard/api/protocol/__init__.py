"""The protocols graphyard speaks beside its REST API; ``v2``: the thread-centric streaming
protocol (``client.threads.stream``)."""
