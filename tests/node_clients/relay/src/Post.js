// A post and its comments, oldest first, as a @connection.
graphql`
  query PostQuery($id: ID!) {
    node(id: $id) {
      ... on Post {
        id
        title
        comments(first: 10) @connection(key: "Post_comments") {
          edges {
            cursor
            node {
              id
              body
            }
          }
        }
      }
    }
  }
`;
