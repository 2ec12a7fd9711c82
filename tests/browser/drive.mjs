// Drives the chat page (src/main.jsx) in Debian's chromium with playwright-core, for
// tests/test_browser.py: `node drive.mjs <flow> <spec JSON>`. The spec holds the page's URL and
// the texts the graph (tests/graphs/browser_chat.py) streams. Prints one JSON line of what the
// page showed and exits 0, or prints why and exits 1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [flow, specJson] = process.argv.slice(2);
const spec = JSON.parse(specJson);
const WAIT = { timeout: 30_000 };

class Failed extends Error {}

function check(condition, message) {
  if (!condition) throw new Failed(message);
}

// Every text an AI message had in the DOM, in order: the page's rendering as it streams, seen
// from outside the page. Starts afresh with each document (a reload).
function recordAiTexts() {
  window.__aiTexts = [];
  const record = () => {
    for (const node of document.querySelectorAll(".message.ai")) {
      const text = node.textContent;
      if (window.__aiTexts.at(-1) !== text) window.__aiTexts.push(text);
    }
  };
  new MutationObserver(record).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
  });
}

const aiTexts = (page) => page.evaluate(() => window.__aiTexts);

const messages = (page) =>
  page.$$eval(".message", (nodes) =>
    nodes.map((n) => ({ type: n.classList.contains("ai") ? "ai" : "human", text: n.textContent })),
  );

async function send(page, text) {
  await page.fill("#input", text);
  await page.click("#send");
}

// Waits until `predicate(arg)` holds in the page, or stops at once when the page shows an error.
async function waitUntil(page, predicate, arg) {
  await page.waitForFunction(
    ([source, value]) =>
      document.querySelector("#error") !== null || new Function(`return (${source})`)()(value),
    [predicate.toString(), arg],
    WAIT,
  );
  const shown = await page.$("#error");
  check(shown === null, `the page shows an error: ${shown && (await shown.textContent())}`);
}

async function waitAiText(page, text) {
  await waitUntil(
    page,
    (want) => [...document.querySelectorAll(".message.ai")].some((n) => n.textContent === want),
    text,
  );
}

async function waitIdle(page) {
  await waitUntil(page, () => document.querySelector("#status").dataset.loading === "false");
}

// Texts seen before `final` was whole: shorter beginnings of it.
const partialsOf = (seen, final) =>
  seen.filter((t) => t.length > 0 && t.length < final.length && final.startsWith(t));

function threadOf(page) {
  return new URL(page.url()).searchParams.get("thread");
}

async function answerInterrupt(page, result) {
  await page.waitForSelector("#approve", WAIT);
  result.question = await page.textContent("#interrupt span");
  await page.click("#approve");
  await waitAiText(page, spec.resumed);
  await waitIdle(page);
  result.resumedPartials = partialsOf(await aiTexts(page), spec.resumed);
  check(result.resumedPartials.length > 0, "the resumed reply never showed partly written");
  check((await page.$("#interrupt")) === null, "the interrupt is still shown after its answer");
}

const flows = {
  // A reply grows token by token; a reload finds the thread in the URL, the list and the messages.
  async chat(page, result) {
    await send(page, spec.message);
    await waitAiText(page, spec.reply);
    await waitIdle(page);
    result.partials = partialsOf(await aiTexts(page), spec.reply);
    check(result.partials.length > 0, "the reply appeared whole: no partial text was seen");
    result.thread = threadOf(page);
    check(result.thread, "the page kept no thread id in its URL");
    await page.waitForSelector(`.thread[data-thread-id="${result.thread}"]`, WAIT);
    await page.reload();
    await waitAiText(page, spec.reply);
    result.afterReload = await messages(page);
    await page.waitForSelector(`.thread[data-thread-id="${result.thread}"]`, WAIT);
  },

  // The graph stops at interrupt(); the page's button answers it and the graph goes on.
  async interrupt(page, result) {
    await send(page, spec.message);
    await waitAiText(page, spec.reply);
    result.thread = threadOf(page);
    await answerInterrupt(page, result);
    result.final = await messages(page);
  },

  // A reload in the middle of a reply: the page joins the run's stream again (reconnectOnMount),
  // sees the rest of the reply arrive, then answers the interrupt that follows it.
  async rejoin(page, result) {
    await send(page, spec.message);
    await waitUntil(
      page,
      (want) =>
        window.__aiTexts.some((t) => t.length >= want.length / 4 && t.length < want.length),
      spec.reply,
    );
    result.thread = threadOf(page);
    result.beforeReload = (await aiTexts(page)).at(-1);
    result.storedRun = await page.evaluate(
      (tid) => window.sessionStorage.getItem(`lg:stream:${tid}`),
      result.thread,
    );
    check(result.storedRun, "no run id in sessionStorage while the run streamed");
    check(result.beforeReload !== spec.reply, "the reply was whole before the reload");
    // The thread's state as the page joins the run's stream again, read from outside the page.
    const joins = [];
    page.on("request", (req) => {
      const path = new URL(req.url()).pathname;
      if (req.method() === "GET" && path.endsWith(`/runs/${result.storedRun}/stream`)) {
        joins.push(fetch(`${spec.api}/threads/${result.thread}/state`).then((r) => r.json()));
      }
    });
    await page.reload();
    await waitAiText(page, spec.reply);
    result.joins = joins.length;
    check(joins.length > 0, "the reloaded page never joined the run's stream");
    result.messagesAtJoin = (await joins[0]).values.messages.length;
    result.partialsAfterReload = partialsOf(await aiTexts(page), spec.reply);
    check(result.partialsAfterReload.length > 0, "after the reload the reply only appeared whole");
    await answerInterrupt(page, result);
    result.final = await messages(page);
  },
};

async function main() {
  check(flows[flow], `unknown flow ${flow}`);
  const profile = mkdtempSync(join(tmpdir(), "graphyard-chromium-"));
  // A persistent context on a fresh, empty profile: nothing carried over from any other run.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: spec.chromium ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const result = { flow };
  const problems = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.addInitScript(recordAiTexts);
    await page.goto(spec.page);
    await flows[flow](page, result);
    const shown = await page.$("#error");
    check(shown === null, `the page shows an error: ${shown && (await shown.textContent())}`);
    result.problems = problems;
    console.log(JSON.stringify(result));
  } catch (err) {
    const why = err instanceof Failed ? err.message : err.stack;
    console.error(`${flow}: ${why}\nso far: ${JSON.stringify(result)}\n${problems.join("\n")}`);
    process.exitCode = 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
