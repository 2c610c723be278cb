// The benchmark's peer (bench-only): PostGraphile 5 with the Amber preset over the bench's
// database, one Node process. PEER_DATABASE_URL is a libpq URL, PEER_PORT the port;
// GET /healthz answers 200 once the schema is built (bench/servers.py waits for it).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({ connectionString: process.env.PEER_DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: { graphqlPath: "/graphql", graphiql: false },
};

const serv = postgraphile(preset).createServ(grafserv);
const handle = serv.createHandler();
await serv.ready();
const server = createServer((request, response) => {
  if (request.url === "/healthz") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end('{"status":"ok"}');
  } else {
    handle(request, response);
  }
});
server.listen(Number(process.env.PEER_PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => serv.release().then(() => process.exit(0))));
