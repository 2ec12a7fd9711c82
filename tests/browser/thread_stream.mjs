// The JS SDK's thread-centric stream (client.threads.stream) against graphyard, run by node from
// tests/test_thread_stream.py: node thread_stream.mjs <api url> <sse|websocket> <message>.
// A chat reply read token by token through thread.messages up to an interrupt(), the answer
// sent with thread.input.respond, then the same run followed to its end by a second
// ThreadStream on the thread (a ThreadStream's projections end at the run's first pause);
// the final state comes from threads.getState.
// Prints what it saw as JSON.
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, transport, message] = process.argv.slice(2);
const client = new Client({ apiUrl });
const thread = client.threads.stream({ assistantId: "browser_chat", transport });

async function readMessages(stream) {
  const seen = [];
  for await (const handle of stream.messages) {
    const parts = [];
    seen.push(parts);
    for await (const delta of handle.text) parts.push(delta);
  }
  return seen;
}

const first = readMessages(thread);
const started = await thread.run.start({
  input: { messages: [{ role: "user", content: message }] },
});
const before = await first;
const [asked] = thread.interrupts;
await thread.input.respond({
  namespace: asked.namespace,
  interrupt_id: asked.interruptId,
  response: "yes",
});
await thread.close();

const again = client.threads.stream(thread.threadId, { assistantId: "browser_chat", transport });
const deltas = await readMessages(again);
const output = (await client.threads.getState(thread.threadId)).values;
await again.close();
console.log(
  JSON.stringify({
    runId: started.run_id,
    interrupt: asked.payload,
    before: before.map((d) => d.join("")),
    texts: deltas.map((d) => d.join("")),
    tokens: deltas.map((d) => d.length),
    output,
  }),
);
process.exit(0);
