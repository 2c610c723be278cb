// Apollo Client 4 with its PersistedQueryLink against a running gql_app.
//
//   node tests/node_clients/apollo.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON object: for each scenario the requests the client sent (method, whether
// the query text went with it, the response's status and error code) and what it got.
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const endpoint = process.argv[2];
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client(requests, useGETForHashedQueries) {
  async function recordingFetch(url, init) {
    const sentQuery =
      init.method === "GET"
        ? new URL(url).searchParams.has("query")
        : "query" in JSON.parse(init.body);
    const response = await fetch(url, init);
    const body = await response.clone().json();
    requests.push({
      method: init.method,
      query: sentQuery,
      status: response.status,
      code: body.errors?.[0]?.extensions?.code ?? null,
    });
    return response;
  }
  const link = new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: endpoint, fetch: recordingFetch }),
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const POSTS = gql`
  query ApolloPosts($first: Int!) {
    posts(first: $first) {
      edges {
        node {
          id
        }
      }
    }
  }
`;
const USERS = gql`
  query ApolloUsers {
    users(first: 1) {
      totalCount
    }
  }
`;
const BROKEN = gql`
  query ApolloBroken {
    noSuchField
  }
`;
const REGISTER = gql`
  mutation ApolloRegister($input: RegisterInput!) {
    register(input: $input) {
      __typename
    }
  }
`;

async function scenario(useGET, work) {
  const requests = [];
  const results = [];
  // Each run is a new client (a new page load): its cache is empty, the server's is not.
  for (let run = 0; run < 2; run += 1) {
    results.push(await work(client(requests, useGET)));
  }
  return { requests, results };
}

const query = (document, variables) => async (apollo) => {
  const { data, error } = await apollo.query({ query: document, variables, errorPolicy: "all" });
  return { data: data ?? null, codes: error?.errors?.map((e) => e.extensions?.code) ?? [] };
};

const suffix = `${process.pid}${Date.now()}`.slice(-12);
const output = {
  post: await scenario(false, query(POSTS, { first: 1 })),
  get: await scenario(true, query(USERS)),
  invalid: await scenario(false, query(BROKEN)),
  mutation: await scenario(true, async (apollo) => {
    const username = `apollo${suffix}${Math.floor(Math.random() * 1e6)}`;
    const input = { username, email: `${username}@example.com`, password: "a long password" };
    const { data } = await apollo.mutate({ mutation: REGISTER, variables: { input } });
    return data.register.__typename;
  }),
};
console.log(JSON.stringify(output));
