// Relay's runtime executing what relay-compiler made of relay/src, against a running gql_app.
//
//   node tests/node_clients/relay.mjs http://127.0.0.1:8000/graphql <relay-compiler's output>
//
// Every request names its persisted document (`documentId`, the id relay-compiler gave it)
// and sends no text. Prints one JSON object: what the store holds after each step.
import { createRequire } from "node:module";

import {
  ConnectionHandler,
  Environment,
  Network,
  RecordSource,
  ROOT_ID,
  Store,
  commitMutation,
  fetchQuery,
} from "relay-runtime";

const [endpoint, artifacts] = process.argv.slice(2);
const artifact = (name) => createRequire(import.meta.url)(`${artifacts}/${name}.graphql.js`);

let token = null;
const sent = [];
let lastResponse = null;
const network = Network.create(async (params, variables) => {
  const body = { documentId: params.id, variables };
  sent.push({ name: params.name, text: params.text !== null, parameters: Object.keys(body) });
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  lastResponse = await response.json();
  return lastResponse;
});
const newEnvironment = () => new Environment({ network, store: new Store(new RecordSource()) });
const environment = newEnvironment();
const record = (id) => environment.getStore().getSource().get(id);

function commit(name, variables) {
  return new Promise((resolve, reject) => {
    commitMutation(environment, {
      mutation: artifact(name),
      variables,
      onCompleted: (response, errors) =>
        errors ? reject(new Error(JSON.stringify(errors))) : resolve(response),
      onError: reject,
    });
  });
}

const query = (name, variables, where = environment) =>
  fetchQuery(where, artifact(name), variables).toPromise();

// The nodes of a connection in the store, in order: `field` of each (null once deleted).
function nodes(connectionId, field) {
  return record(connectionId).edges.__refs.map((ref) => {
    const node = record(record(ref).node.__ref);
    return node ? node[field] : null;
  });
}

const username = `relay${process.pid}${Date.now()}`.slice(0, 40);
const input = { username, email: `${username}@example.com`, password: "a long password" };
token = (await commit("RegisterMutation", { input })).register.token;

const created = [];
for (const title of ["first", "second"]) {
  const response = await commit("CreatePostMutation", { input: { title, body: "b" }, connections: [] });
  created.push(response.createPost.postEdge.node.id);
}
await query("FeedQuery", {});
const feed = ConnectionHandler.getConnectionID(ROOT_ID, "Feed_posts");
const feedBefore = nodes(feed, "title");

const third = (await commit("CreatePostMutation", { input: { title: "third", body: "b" }, connections: [feed] }))
  .createPost.postEdge;
const feedAfterPrepend = nodes(feed, "title");

await query("PostQuery", { id: third.node.id });
const comments = ConnectionHandler.getConnectionID(third.node.id, "Post_comments");
for (const body of ["one", "two"]) {
  await commit("AddCommentMutation", { input: { postId: third.node.id, body }, connections: [comments] });
}
const commentsAfterAppend = nodes(comments, "body");

await commit("DeletePostMutation", { input: { id: created[0] } });
const feedAfterDelete = nodes(feed, "title");

// @refetchable: the feed's refetch query, paging on from the new post's edge (in a store of
// its own: in the first, the page after the new post is not the connection's end).
await query("FeedRefetchQuery", { first: 1, after: third.cursor }, newEnvironment());
const pagedFromNewEdge = lastResponse.data.posts.edges.map((edge) => edge.node.title);

console.log(
  JSON.stringify({
    sent,
    feedBefore,
    feedAfterPrepend,
    commentsAfterAppend,
    feedAfterDelete,
    pagedFromNewEdge,
  }),
);
