// The JS SDK's thread-centric stream (client.threads.stream) against graphyard, run by node from
// tests/test_thread_stream.py: node thread_stream.mjs <api url> <sse|websocket> <message>.
// A chat reply read token by token through thread.messages, the final state from
// thread.output; prints what it saw as JSON.
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, transport, message] = process.argv.slice(2);
const client = new Client({ apiUrl });
const thread = client.threads.stream({ assistantId: "browser_chat", transport });

const texts = [];
const deltas = [];
const reading = (async () => {
  for await (const handle of thread.messages) {
    const parts = [];
    deltas.push(parts);
    for await (const delta of handle.text) parts.push(delta);
    texts.push(parts.join(""));
  }
})();

const started = await thread.run.start({
  input: { messages: [{ role: "user", content: message }] },
});
const output = await thread.output;
const deadline = Date.now() + 60_000;
while (texts.length === 0) {
  if (Date.now() > deadline) throw new Error("timed out waiting for the message");
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await thread.close();
await Promise.race([reading, Promise.resolve()]);
console.log(
  JSON.stringify({ runId: started.run_id, texts, tokens: deltas.map((d) => d.length), output }),
);
process.exit(0);
