"""The agent protocols the reference server speaks beside its REST API: MCP at ``/mcp`` (every
assistant a tool) and A2A at ``/a2a/{assistant_id}`` (every assistant an agent). Both run
ordinary durable runs underneath (``graphyard.api.submit.create_run``)."""
