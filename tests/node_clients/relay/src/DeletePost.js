// The deleted post leaves the store.
graphql`
  mutation DeletePostMutation($input: DeletePostInput!) {
    deletePost(input: $input) {
      __typename
      ... on DeletePostSuccess {
        deletedPostId @deleteRecord
      }
    }
  }
`;
