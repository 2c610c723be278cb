// Subscribes with the real graphql-ws client to a running gql_app and prints what it gets,
// one JSON line per event: {"next": ...}, then {"complete": true} or {"error": ...}.
//
//   npm ci --prefix tests/node_ws
//   node tests/node_ws/subscribe.mjs ws://127.0.0.1:8000/graphql <query> <variables JSON> [token]
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, query, variables, token] = process.argv.slice(2);
if (!url || !query) {
  console.error("usage: node subscribe.mjs <ws url> <query> <variables JSON> [token]");
  process.exit(2);
}

const print = (message) => console.log(JSON.stringify(message));
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  on: { connected: () => print({ connected: true }) },
});

client.subscribe(
  { query, variables: JSON.parse(variables || "{}") },
  {
    next: (value) => print({ next: value }),
    error: (error) => {
      print({ error: error instanceof Error ? error.message : error });
      client.dispose().then(() => process.exit(1));
    },
    complete: () => {
      print({ complete: true });
      client.dispose().then(() => process.exit(0));
    },
  },
);
