from tests.conftest import Stack


async def test_chain_wait(stack: Stack) -> None:
    thread = await stack.client.threads.create()
    result = await stack.client.runs.wait(thread["thread_id"], "chain", input={"steps": []})
    assert result == {"steps": [f"node_{i}" for i in range(10)]}
