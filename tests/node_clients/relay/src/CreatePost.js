// The new post goes first in the connections given (they list posts newest first).
graphql`
  mutation CreatePostMutation($input: CreatePostInput!, $connections: [ID!]!) {
    createPost(input: $input) {
      __typename
      ... on CreatePostSuccess {
        postEdge @prependEdge(connections: $connections) {
          cursor
          node {
            id
            title
          }
        }
      }
    }
  }
`;
