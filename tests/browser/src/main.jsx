// A chat page as front ends build them on useStream: the API URL comes in the query string
// (?api=...), the thread id is kept in the URL (?thread=...) so a reload finds the thread
// again, and reconnectOnMount keeps the running run's id in sessionStorage so a reload in the
// middle of a reply joins its stream again.
import { useCallback, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { useStream } from "@langchain/langgraph-sdk/react";

const params = new URLSearchParams(window.location.search);
const apiUrl = params.get("api") ?? "http://127.0.0.1:2024";
const assistantId = params.get("assistant") ?? "browser_chat";

function keepThreadInUrl(threadId) {
  const url = new URL(window.location.href);
  if (threadId) url.searchParams.set("thread", threadId);
  else url.searchParams.delete("thread");
  window.history.replaceState(null, "", url);
}

function text(content) {
  if (typeof content === "string") return content;
  return (content ?? []).map((part) => (typeof part === "string" ? part : part.text ?? "")).join("");
}

function App() {
  const [threadId, setThreadId] = useState(params.get("thread"));
  const [threads, setThreads] = useState([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState(null);

  const onThreadId = useCallback((id) => {
    setThreadId(id);
    keepThreadInUrl(id);
  }, []);

  const stream = useStream({
    apiUrl,
    apiKey: null,
    assistantId,
    threadId,
    onThreadId,
    reconnectOnMount: true,
    onError: (err) => setError(String(err?.message ?? err)),
    onFinish: () => listThreads(),
  });

  const listThreads = useCallback(() => {
    stream.client.threads
      .search({ limit: 20, sortBy: "updated_at", sortOrder: "desc" })
      .then(setThreads, (err) => setError(String(err?.message ?? err)));
  }, [stream.client]);

  useEffect(() => listThreads(), [listThreads, threadId]);

  const send = (event) => {
    event.preventDefault();
    if (!draft.trim()) return;
    const message = { type: "human", content: draft };
    setDraft("");
    stream.submit(
      { messages: [message] },
      { optimisticValues: (prev) => ({ ...prev, messages: [...(prev.messages ?? []), message] }) },
    );
  };

  const interrupt = stream.interrupt;
  return (
    <main>
      <aside>
        <button id="new-thread" onClick={() => onThreadId(null)}>New thread</button>
        <ul id="threads">
          {threads.map((t) => (
            <li key={t.thread_id} className="thread" data-thread-id={t.thread_id}>
              <button onClick={() => onThreadId(t.thread_id)}>{t.thread_id}</button>
            </li>
          ))}
        </ul>
      </aside>
      <section>
        <div id="status" data-loading={String(stream.isLoading)} data-thread-id={threadId ?? ""}>
          {stream.isLoading ? "streaming" : "idle"}
        </div>
        <div id="messages">
          {stream.messages.map((m, i) => (
            <p key={m.id ?? i} className={`message ${m.type}`} data-id={m.id ?? ""}>
              {text(m.content)}
            </p>
          ))}
        </div>
        {interrupt?.value != null && (
          <div id="interrupt">
            <span>{interrupt.value.question}</span>
            <button
              id="approve"
              onClick={() => stream.submit(undefined, { command: { resume: "yes" } })}
            >
              Approve
            </button>
          </div>
        )}
        <form onSubmit={send}>
          <input id="input" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button id="send" type="submit" disabled={stream.isLoading}>Send</button>
        </form>
        {(error || stream.error) && <pre id="error">{error ?? String(stream.error)}</pre>}
      </section>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
