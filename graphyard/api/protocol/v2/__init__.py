"""The thread-centric streaming protocol (``client.threads.stream`` of langgraph-sdk 0.4 and
@langchain/langgraph-sdk 1.x): commands in, typed events (``langchain_protocol``) out.

Nothing here keeps state across requests: every event stream is a projection of the thread's
durable event log (``graphyard.storage.events``), recomputed by whichever API process serves it,
and every command goes through the same run doors as the REST API (``submit.create_run``,
``hitl.resume_run``)."""
