"""The protocols the reference server speaks beside its REST API: MCP at ``/mcp`` (every
assistant a tool), A2A at ``/a2a/{assistant_id}`` (every assistant an agent), and ``v2``, the
thread-centric streaming protocol (``client.threads.stream``). All run ordinary durable runs
underneath (``graphyard.runs.submit.create_run``)."""
