// Runs a subscription in the GraphiQL page a gql_app serves, in headless Chromium, as a person
// would: the query put into the editor, the run button pressed. Prints one JSON line when
// the subscription runs, then one when the response pane shows the expected text.
// Usage: node subscribe.mjs <page url> <query> <expected text>  (CHROMIUM: the browser binary)
import { chromium } from "playwright-core";

const [pageUrl, query, expected] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  const failures = [];
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(message.text());
  });
  await page.goto(pageUrl);
  await page.waitForSelector(".graphiql-query-editor .CodeMirror");
  await page.evaluate((text) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(text);
  }, query);
  // GraphiQL parses the edited query 100 ms after the last edit (a debounce), and sends it
  // over the WebSocket only once that parse says it is a subscription (over HTTP before):
  // a timer of the page's own, longer, fires after it.
  await page.evaluate(() => new Promise((done) => setTimeout(done, 1000)));
  await page.click(".graphiql-execute-button");
  console.log(JSON.stringify({ running: true }));
  await page.waitForFunction(
    (text) => {
      const pane = document.querySelector(".result-window .CodeMirror");
      return pane !== null && pane.CodeMirror.getValue().includes(text);
    },
    expected,
    { timeout: 60000 },
  );
  console.log(JSON.stringify({ seen: true, errors: failures }));
} finally {
  await browser.close();
}
