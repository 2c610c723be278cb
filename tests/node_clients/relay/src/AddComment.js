// The new comment goes last in the connections given (a post's comments, oldest first).
graphql`
  mutation AddCommentMutation($input: AddCommentInput!, $connections: [ID!]!) {
    addComment(input: $input) {
      __typename
      ... on AddCommentSuccess {
        commentEdge @appendEdge(connections: $connections) {
          cursor
          node {
            id
            body
          }
        }
      }
    }
  }
`;
