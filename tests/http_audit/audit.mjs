// Runs graphql-http's GraphQL-over-HTTP server audits against a running endpoint.
//
//   npm ci --prefix tests/http_audit
//   node tests/http_audit/audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one line per audit. Exits 1 when a MUST (status "error") or SHOULD ("warn") audit
// fails; failing MAY audits ("notice") are printed but do not fail the run.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <graphql endpoint URL>");
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  results.push(await audit.fn());
}

for (const result of results) {
  const line = `${result.id}\t${result.status}\t${result.name}`;
  if (result.status === "ok") {
    console.log(line);
  } else {
    const body = await result.response.text().catch(() => "<body already read>");
    console.log(`${line}\n\t${result.reason}: ${result.response.status} ${body.slice(0, 300)}`);
  }
}

const count = (status) => results.filter((result) => result.status === status).length;
console.log(
  `${results.length} audits: ${count("ok")} ok, ${count("error")} MUST failed, ` +
    `${count("warn")} SHOULD failed, ${count("notice")} MAY failed`,
);
process.exit(count("error") + count("warn") > 0 ? 1 : 0);
